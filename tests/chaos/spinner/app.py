def handler(event, context):
    while True:  # spins past its timeout
        pass
