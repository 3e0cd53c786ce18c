# a WSGI app under gunicorn (run.sh): its version fails to publish, so it is never called
def app(environ, start_response):
    start_response("200 OK", [("content-type", "application/json")])
    return [b'{"ok": true}']
