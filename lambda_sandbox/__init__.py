"""lambda-sandbox: a local AWS Lambda for ML workloads.

How a request flows, layer by layer (imports only point down; tests/unit/test_architecture.py
checks it):

    faces/          HTTP: the Lambda API (Invoke, InvokeWithResponseStream, configuration,
                    concurrency), function URLs, API Gateway routes, metrics. Renders errors.
      |
    service/        The Lambda semantics, once for every backend: function registry, pools of
      |             execution environments, concurrency and throttles, timeouts, INIT limit,
      |             payload limits, log lines (START/END/REPORT/INIT_REPORT), metrics.
    environments/   Backends that start one execution environment with limits: `process`
      |             (cgroups, a private loop-mounted /tmp, user nobody) and an in-memory fake.
    runtime_api/    The Lambda Runtime API (2018-06-01) that the real runtime client polls.

Beside the layers: `types.py` (messages between layers), `exceptions.py` (every error),
`limits.py` (reads limits/*.toml), `definitions.py` (function.yaml / SAM), `build.py`
(bundles), `models.py` (model artifacts), `cost.py`, `tune.py`, `runner.py` (assembles a
running sandbox), `cli.py` (the `sandbox` command), `pytest_plugin.py`.
The supported Lambda API operations are listed in `lambda_sandbox.faces.lambda_api.OPERATIONS`.
"""

__all__: list[str] = []
