"""A web app behind the Web Adapter stand-in: answers its readiness check on /, and each
event the adapter passes through (POST /events) with its function's name, its process and
how many events it has seen. FIXED_PORT=1 listens on 8080 whatever PORT says."""

import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SEEN = []


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self._answer({"ready": True})

    def do_POST(self):
        event = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        SEEN.append(event)
        time.sleep(float(event.get("sleep", 0)))
        self._answer(
            {
                "who": os.environ["AWS_LAMBDA_FUNCTION_NAME"],
                "pid": os.getpid(),
                "seen": len(SEEN),
                "port": self.server.server_address[1],
            }
        )

    def _answer(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


port = 8080 if os.environ.get("FIXED_PORT") else int(os.environ.get("PORT", "8080"))
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
