"""A streaming probe: yields chunks over time, like an LLM emitting tokens."""

import time


def handler(event, context):
    path = (event.get("rawPath") or "") if isinstance(event, dict) else ""
    count = (
        int((event.get("queryStringParameters") or {}).get("n", 5))
        if path
        else int(event.get("chunks", 5))
    )
    if path.endswith("/plain"):
        return {"statusCode": 200, "body": "not streamed"}

    def tokens():
        if path:
            yield {"statusCode": 207, "headers": {"content-type": "text/plain", "x-stream": "1"}}
        for i in range(count):
            yield f"token-{i} "
            time.sleep(0.3)
        if event.get("fail") or path.endswith("/fail"):
            raise RuntimeError("broke mid-stream")

    return tokens()
