"""The AWS event stream framing (application/vnd.amazon.eventstream) that
InvokeWithResponseStream answers with: prelude (total and headers length, CRC32), string
headers, payload, message CRC32. botocore decodes it; nothing in botocore encodes it."""

from __future__ import annotations

import json
import struct
import zlib

__all__ = ["encode_message", "invoke_complete", "payload_chunk"]


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    encoded = b""
    for name, value in headers.items():
        n, v = name.encode(), value.encode()
        encoded += struct.pack(">B", len(n)) + n + b"\x07" + struct.pack(">H", len(v)) + v
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def _event(event_type: str, content_type: str, payload: bytes) -> bytes:
    headers = {":event-type": event_type, ":content-type": content_type, ":message-type": "event"}
    return encode_message(headers, payload)


def payload_chunk(data: bytes) -> bytes:
    return _event("PayloadChunk", "application/octet-stream", data)


def invoke_complete(
    error_code: str | None = None, error_details: str | None = None, log_result: str | None = None
) -> bytes:
    body: dict[str, str] = {}
    if error_code:
        body["ErrorCode"] = error_code
    if error_details:
        body["ErrorDetails"] = error_details
    if log_result:
        body["LogResult"] = log_result
    return _event("InvokeComplete", "application/json", json.dumps(body).encode())
