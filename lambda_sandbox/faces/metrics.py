"""The service's metrics over HTTP: Prometheus text at /metrics, CloudWatch-style JSON at
/_sandbox/metrics. A custom collector reads the service's counters on each scrape; nothing is
registered globally."""

from __future__ import annotations

import json
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from lambda_sandbox.exceptions import InvalidParameterValueException
from lambda_sandbox.service.lambda_service import LambdaService
from lambda_sandbox.service.metrics import Distribution

__all__ = ["metrics_routes"]


def _histogram(name: str, doc: str, fn: str, dist: Distribution) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=["function_name"])
    cumulative, buckets = 0, []
    for bound, count in zip([*dist.buckets, float("inf")], dist.counts, strict=True):
        cumulative += count
        buckets.append(("+Inf" if bound == float("inf") else str(bound), cumulative))
    family.add_metric([fn], buckets, dist.total)
    return family


class _ServiceCollector(Collector):
    def __init__(self, service: LambdaService) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        counters = {
            "invocations": ("Invocations that ran (function errors included)", "invocations"),
            "errors": ("Invocations that ended in a function error", "errors"),
            "throttles": ("Invoke requests refused with 429", "throttles"),
            "timeouts": ("Invocations stopped at the function timeout", "timeouts"),
            "cold_starts": ("Invocations that started an execution environment", "cold_starts"),
            "async_events_dropped": (
                "Async events dropped after retries or max age",
                "async_events_dropped",
            ),
            "async_events_resumed": (
                "Async events an earlier run accepted and this one resumed",
                "async_events_resumed",
            ),
            "snapstart_restores": ("Cold starts restored from a SnapStart snapshot", "restores"),
            "snapstart_uniqueness_warnings": (
                "Restores that share random state or INIT connections with another restore",
                "uniqueness_warnings",
            ),
        }
        families = {
            key: CounterMetricFamily(f"lambda_{key}", doc, labels=["function_name"])
            for key, (doc, _) in counters.items()
        }
        concurrent = GaugeMetricFamily(
            "lambda_concurrent_executions", "Invocations running now", labels=["function_name"]
        )
        concurrent_max = GaugeMetricFamily(
            "lambda_concurrent_executions_max",
            "Most invocations at once",
            labels=["function_name"],
        )
        envs = GaugeMetricFamily(
            "lambda_environments", "Live execution environments", labels=["function_name", "state"]
        )
        extra = []
        for name, state in self.service.functions.items():
            stats = state.stats
            for key, (_, attr) in counters.items():
                families[key].add_metric([name], getattr(stats, attr))
            concurrent.add_metric([name], state.in_use)
            concurrent_max.add_metric([name], stats.max_concurrency)
            envs.add_metric([name, "idle"], len(state.idle))
            envs.add_metric([name, "busy"], len(state.busy))
            extra += [
                _histogram(
                    "lambda_duration_milliseconds", "Duration of invocations", name, stats.duration
                ),
                _histogram(
                    "lambda_init_duration_milliseconds",
                    "Init Duration of cold starts",
                    name,
                    stats.init_duration,
                ),
                _histogram(
                    "lambda_restore_duration_milliseconds",
                    "Restore Duration of SnapStart cold starts",
                    name,
                    stats.restore_duration,
                ),
                _histogram(
                    "lambda_max_memory_used_megabytes",
                    "Max Memory Used per invocation",
                    name,
                    stats.max_memory_used_mb,
                ),
            ]
        yield from families.values()
        yield from (concurrent, concurrent_max, envs)
        yield from extra


def metrics_routes(service: LambdaService) -> list[web.RouteDef]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ServiceCollector(service))

    async def prometheus(request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": "text/plain; version=0.0.4"}
        )

    async def as_json(request: web.Request) -> web.Response:
        """CloudWatch-style metrics per function; `?since=<Unix time>` computes the
        distributions (Duration, Init Duration, Max Memory Used) over that window only."""
        raw = request.query.get("since")
        try:
            since = float(raw) if raw is not None else None
        except ValueError:
            raise InvalidParameterValueException(
                f"since={raw!r} is not a number: give a Unix time in seconds"
            ) from None
        body = {name: state.metrics(since) for name, state in service.functions.items()}
        return web.Response(text=json.dumps(body), content_type="application/json")

    return [web.get("/metrics", prometheus), web.get("/_sandbox/metrics", as_json)]
