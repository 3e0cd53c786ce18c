def handler(event, context):
    blocks = []
    while True:  # past its 128 MB
        blocks.append(bytearray(16 << 20))
