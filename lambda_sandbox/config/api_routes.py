"""SAM `Events` of a function: which API Gateway routes it answers.

`Type: Api` is a REST API route (payload format 1.0), `Type: HttpApi` an HTTP API route
(payload 2.0 unless `PayloadFormatVersion: "1.0"`; an event without Path is `$default`). Each
route gets its integration timeout: API Gateway's 29 s, or the event's TimeoutInMillis when
lower. Routes are sorted so that the most specific path matches first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lambda_sandbox.config.function import FunctionConfig

__all__ = ["PATH_PARAMETER", "ApiRoute", "api_routes"]

PATH_PARAMETER = re.compile(r"\{([A-Za-z0-9_.\-]+)(\+?)\}")


@dataclass(frozen=True)
class ApiRoute:
    function: str
    kind: str  # "rest" (Api, payload 1.0) or "http" (HttpApi)
    method: str  # upper case, or "ANY"
    path: str  # the template, e.g. /items/{id} or /{proxy+}; "$default" for a catch-all
    payload_version: str
    timeout_s: float
    pattern: re.Pattern[str]

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"

    def specificity(self) -> tuple[int, int, int]:
        greedy = "+}" in self.path or self.path == "$default"
        return (int(greedy), self.path.count("{"), -len(self.path))


def _compile(path: str) -> re.Pattern[str]:
    if path == "$default":
        return re.compile(r"^/.*$")
    out, pos = "", 0
    for m in PATH_PARAMETER.finditer(path):
        out += re.escape(path[pos : m.start()])
        name = m.group(1).replace("-", "_").replace(".", "_")
        out += f"(?P<{name}>.+)" if m.group(2) else f"(?P<{name}>[^/]+)"
        pos = m.end()
    out += re.escape(path[pos:])
    return re.compile(f"^{out}/?$")


def api_routes(configs: list[FunctionConfig], default_timeout_s: float) -> list[ApiRoute]:
    """Routes from the functions' SAM-style `Events` (Api and HttpApi)."""
    routes = []
    for cfg in configs:
        for event in cfg.events.values():
            if not isinstance(event, dict) or event.get("Type") not in ("Api", "HttpApi"):
                continue
            props = event.get("Properties") or {}
            kind = "rest" if event["Type"] == "Api" else "http"
            path = str(props.get("Path", "$default" if kind == "http" else "/"))
            method = str(props.get("Method", "ANY")).upper()
            method = "ANY" if method in ("ANY", "X-AMAZON-APIGATEWAY-ANY-METHOD") else method
            version = "1.0" if kind == "rest" else str(props.get("PayloadFormatVersion", "2.0"))
            timeout = props.get("TimeoutInMillis")
            routes.append(
                ApiRoute(
                    function=cfg.name,
                    kind=kind,
                    method=method,
                    path=path,
                    payload_version=version,
                    timeout_s=min(float(timeout) / 1000, default_timeout_s)
                    if timeout
                    else default_timeout_s,
                    pattern=_compile(path),
                )
            )
    return sorted(routes, key=ApiRoute.specificity)
