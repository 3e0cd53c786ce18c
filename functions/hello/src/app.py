"""Echo the event back, with a word about where it ran."""

import os


def handler(event, context):
    print(f"hello from {context.function_name}")
    return {
        "hello": event.get("name", "world") if isinstance(event, dict) else "world",
        "event": event,
        "memory_mb": int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]),
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
