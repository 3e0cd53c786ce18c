"""Plain Locust entry point: `locust -f benchmarks/locustfile.py --host URL`.

TARGET_FUNCTION=name makes --host the Lambda API (POST /2015-03-31/functions/{name}/invocations);
unset, --host is a function URL (TARGET_PATH, default "/"). PAYLOAD is the request body.
LOAD_SHAPE=ramp adds the ramp scenario's LoadTestShape; see sandbox/load/locustfile.py.
"""

from lambda_sandbox.tools.load.locustfile import *  # noqa: F403  (the user class, and RampShape if asked)
from lambda_sandbox.tools.load.locustfile import LambdaUser

__all__ = ["LambdaUser"]

try:
    from lambda_sandbox.tools.load.locustfile import RampShape  # type: ignore[attr-defined]

    __all__ += ["RampShape"]
except ImportError:  # LOAD_SHAPE is not "ramp": users and run time come from -u / -r / -t
    pass
