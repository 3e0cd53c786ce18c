def handler(event, context):
    return {"ok": True, "n": event.get("n")}
