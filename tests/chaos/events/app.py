import time


def handler(event, context):
    print("EVENT-MARK", event["mark"], flush=True)
    time.sleep(0.2)
    return event
