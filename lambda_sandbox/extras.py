"""The optional parts of the install, and the message that names one when it is missing.

The base install runs the sandbox (process backend, embedded AWS side, pytest fixtures);
`pip install 'lambda-sandbox[docker]'` adds the docker backend and images, `[load]` Locust,
`[reports]` matplotlib for charts, `[promote]` image packages, `[all]` everything.
"""

from __future__ import annotations

import importlib.util

from lambda_sandbox.exceptions import MissingExtraError

__all__ = ["EXTRAS", "require"]

# extra -> the modules it installs
EXTRAS: dict[str, tuple[str, ...]] = {
    "docker": ("docker",),
    "load": ("locust", "matplotlib"),
    "reports": ("matplotlib",),
    "promote": ("docker",),
}


def require(extra: str, purpose: str) -> None:
    """Raise MissingExtraError, naming the extra to install, when `purpose` needs it."""
    missing = [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtraError(
            f"{purpose} needs {', '.join(missing)}, which is not installed: "
            f"pip install 'lambda-sandbox[{extra}]' (or 'lambda-sandbox[all]')"
        )
