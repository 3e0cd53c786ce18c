"""Fixtures: the `smol` package importable for unit tests, and a sandbox serving the LLM.

The sandbox serves four functions from the one folder: `llm` (SmolLM2, as configured),
`llm-tiny` (the same code on the tiny random GGUF: fast, for the serving path), `llm-tmp`
(the tiny GGUF through the /tmp fallback) and `llm-web` (seed 004's shape: web.py, FastAPI
behind the Web Adapter, with SnapStart on, on the tiny GGUF). llama-cpp-python lives only in
the bundle: these tests reach it through the sandbox, as callers on AWS do, so the test
environment never builds it. The first bundle build on a machine compiles llama-cpp-python
(about 10 minutes on 2 cores); the slow tests allow for that.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambda_sandbox.pytest_plugin import register_package

FUNCTION_DIR = Path(__file__).resolve().parents[1]
SRC_DIR = FUNCTION_DIR / "src"
FIRST_BUILD_TIMEOUT_S = 1800  # compiling llama-cpp-python once per machine


register_package(SRC_DIR, "smol")


WEB_ADAPTER_ARN = "arn:aws:lambda:us-east-1:753240598075:layer:LambdaAdapterLayerX86:25"


def web_config(llm: Any, model_file: str = "tiny-llama.gguf") -> Any:
    """`llm` as seed 004 deploys it: run.sh (web.py) behind the Web Adapter, SnapStart on."""
    from lambda_sandbox.config.layers import resolve_arn

    env = {
        **llm.environment,
        "MODEL_FILE": model_file,
        "AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap",
        "AWS_LWA_INVOKE_MODE": "response_stream",
        "AWS_LWA_READINESS_CHECK_PATH": "/healthz",
        "PORT": "8000",
    }
    return llm.with_updates(
        name="llm-web", handler="run.sh", environment=env, models=None, snap_start=True,
        layers=(resolve_arn(WEB_ADAPTER_ARN, {}, llm.source),),
    )  # fmt: skip


@pytest.fixture(scope="session")
def llm_sandbox() -> Iterator[Any]:
    from lambda_sandbox.config import load_function
    from lambda_sandbox.runner import SandboxOptions, SandboxThread

    llm = load_function(FUNCTION_DIR)
    tiny_env = {**llm.environment, "MODEL_FILE": "tiny-llama.gguf"}
    # Models stays with `llm`: its build uploads every artifact (tiny-llama.gguf too) to llm/
    tiny = llm.with_updates(name="llm-tiny", environment=tiny_env, models=None)
    tmp = llm.with_updates(
        name="llm-tmp", environment={**tiny_env, "MODEL_LOADER": "tmp"}, models=None
    )
    options = SandboxOptions(
        functions_dir=FUNCTION_DIR.parent, port=0, configs=[llm, tiny, tmp, web_config(llm)]
    )
    thread = SandboxThread(options).start(timeout_s=FIRST_BUILD_TIMEOUT_S)
    try:
        yield thread
    finally:
        thread.stop()


@pytest.fixture(scope="session")
def llm_client(llm_sandbox: Any) -> Any:
    from lambda_sandbox.pytest_plugin import make_lambda_client

    return make_lambda_client(llm_sandbox.url)
