"""An HTTP-facing probe: echoes the event it got, or misbehaves on purpose by path."""

import base64
import json
import time


def handler(event, context):
    path = event.get("rawPath") or event.get("path") or "/"
    if path.endswith("/sleep"):
        time.sleep(3)
    if path.endswith("/fail"):
        raise RuntimeError("failing on purpose")
    if path.endswith("/bare"):
        return {"bare": True, "path": path}
    if path.endswith("/binary"):
        return {
            "statusCode": 200,
            "headers": {"content-type": "application/octet-stream"},
            "body": base64.b64encode(bytes(range(256))).decode(),
            "isBase64Encoded": True,
        }
    if path.endswith("/malformed"):
        return {"statusCode": "two hundred"}
    return {
        "statusCode": 201,
        "headers": {"content-type": "application/json", "x-probe": "yes"},
        "multiValueHeaders": {"x-multi": ["a", "b"]},
        "cookies": ["session=abc; Path=/", "theme=dark"],
        "body": json.dumps({"event": event}),
    }
