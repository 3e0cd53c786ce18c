raise RuntimeError("crashes at INIT")


def handler(event, context):
    return "never"
