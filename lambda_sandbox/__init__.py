"""lambda-sandbox: a local AWS Lambda for ML workloads (the command is `sandbox`).

How a request flows, layer by layer (imports only point down; tests/unit/test_architecture.py
checks it):

    faces/          HTTP in, HTTP out: the Lambda API (lambda_api), function URLs
      |             (function_urls), API Gateway routes (api_gateway, events mapped by
      |             http_events), metrics, the sandbox's own /_sandbox endpoints; `app.Gateway`
      |             serves them on their ports and renders every LambdaAPIError AWS-style.
    service/        The Lambda semantics, once for every backend, one concept per module:
      |             registry, concurrency (throttles), invoke (the lifecycle: payload limits,
      |             deadline, timeout, REPORT), cold_start (the 10 s INIT limit and its retry),
      |             pool (reuse, keep-alive, reaping), async_events (Event invokes) and
      |             event_journal (accepted events on disk until done), logs, metrics;
      |             `lambda_service.LambdaService` composes them.
    environments/   Backends that start one execution environment with Lambda's limits:
      |             process (a child process in a cgroup, in a mount namespace with Lambda's
      |             filesystem: launcher, lambda_root; as a uid of its own: identity), docker
      |             (a container of the function's image, the real RIE inside), fake (in
      |             memory, for tests).
    runtime_api/    The Lambda Runtime API (2018-06-01) that the real runtime client polls;
                    each port answers only its environment's uid (peer).

A POST /2015-03-31/functions/NAME/invocations: the Lambda API face parses it; the service
checks the payload, takes a concurrency slot (or answers 429), takes a warm environment from
the pool or starts one (a cold start: INIT under its limit), hands the event to the
environment's Runtime API, waits at most the function's Timeout, writes START / END / REPORT
and returns the environment to the pool.

Beside the layers:
    leaves          types (messages between layers), exceptions (every error, with its AWS
                    code), limits (Lambda's quotas from data/limits/*.toml), cost (billing),
                    log_lines (START/END/REPORT written and parsed), paths (package data,
                    cache, state), sessions (session ids, and what a crashed one left),
                    config/ (function.yaml, SAM templates), docker_engine
    build/          bundles and layers as `sam build` makes them, runtimes (/var/lang and
                    /var/runtime), Lambda-platform wheels, model artifacts, function images,
                    the offline base images, the Web Adapter stand-in, the RIE binary, pip
    runner.py       the composition root: bundles + AWS side + backend + service + gateway
    doctor.py       what this machine enforces, and crashed sandboxes' leftovers
    client.py       the one client-side helper: invoke with a log tail, read the REPORT
    tools/          over a running sandbox or AWS: tune, fit, load, promote, demo, ec2_comparison
    reports/        tables (Markdown, HTML, rich) and charts shared by every tool; the bench report
    cli/            the `sandbox` command, by command family
    pytest_plugin   the `sandbox` and `lambda_client` fixtures
The supported Lambda API operations are listed in `lambda_sandbox.faces.lambda_api.OPERATIONS`.
"""

__all__: list[str] = []
