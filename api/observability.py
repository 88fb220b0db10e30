"""Observability: Prometheus metrics (requests and latencies by route and status, events
appended, log and read-model positions, projection lag) and ``GET /readyz``.

Metrics live in one ``CollectorRegistry`` per application; prometheus-client's counters and
histograms take a lock per update, so the event loop (requests) and worker threads (saves)
may update them at once. Route labels are the route's canonical path (``/v1/cocs/{coc}/
users/{ref}``), never the requested path, so no reference or name reaches a label value.
"""

from __future__ import annotations

import asyncio
import math
from bisect import bisect_left
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any
from uuid import UUID

from aiohttp import web
from eventsourcing.persistence import Recording
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from api.keys import LEDGER, READ_MODELS, SETTINGS
from api.models import Ready
from api.openapi import Operation, describe
from api.problems import ApiProblem
from api.responses import model_response

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RequestMetrics(Collector):
    """Requests answered and their latencies by method, route and status: a counter and a
    histogram, as prometheus-client's ``Counter`` and ``Histogram`` would expose them.

    Counted in plain lists, on the event loop only (requests are answered there, and the
    metrics are rendered there), and handed to the registry as metric families when it is
    collected: prometheus-client's own metric objects take a lock and update a value object
    per bucket for each observation, about 3% of a small read's instructions
    (scripts/bench_api_instructions)."""

    _LABELS = ("method", "route", "status")

    def __init__(self, buckets: Sequence[float]) -> None:
        self._bounds = tuple(buckets)
        self._edges = [floatToGoString(b) for b in buckets] + ["+Inf"]  # type: ignore[no-untyped-call]
        # per (method, route, status): [answers per bucket..., the sum of their seconds]
        self._observed: dict[tuple[str, str, int], list[float]] = {}

    def observe(self, key: tuple[str, str, int], seconds: float) -> None:
        counts = self._observed.get(key)
        if counts is None:
            counts = self._observed[key] = [0.0] * (len(self._bounds) + 2)
        counts[bisect_left(self._bounds, seconds)] += 1  # the first bucket with le >= seconds
        counts[-1] += seconds

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        requests = CounterMetricFamily(
            "coc_ledger_http_requests",
            "HTTP requests answered, by method, route (canonical path) and status",
            labels=self._LABELS,
        )
        latency = HistogramMetricFamily(
            "coc_ledger_http_request_duration_seconds",
            "Time from receiving a request to its response, by method, route and status",
            labels=self._LABELS,
        )
        for (method, route, status), counts in sorted(self._observed.items()):
            labels = [method, route, str(status)]
            cumulative, buckets = 0.0, []
            for edge, count in zip(self._edges, counts, strict=False):
                cumulative += count
                buckets.append((edge, cumulative))
            requests.add_metric(labels, cumulative)
            latency.add_metric(labels, buckets, counts[-1])
        yield requests
        yield latency


class Metrics:
    """The service's metrics; ``render()`` gives the Prometheus text format."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = RequestMetrics(LATENCY_BUCKETS)
        self.registry.register(self.requests)
        self.events = Counter(
            "coc_ledger_events_appended",
            "Events this process appended to the log, by event type",
            ("type",),
            registry=self.registry,
        )
        self.store_up = Gauge(
            "coc_ledger_store_up",
            "1 when the store answered the last scrape",
            registry=self.registry,
        )
        self.log_position = Gauge(
            "coc_ledger_log_position",
            "Position of the newest event in the log",
            registry=self.registry,
        )
        self.readmodel_position = Gauge(
            "coc_ledger_readmodel_position",
            "Last log position the current read-model generation applied",
            registry=self.registry,
        )
        self.readmodel_lag = Gauge(
            "coc_ledger_readmodel_lag_events",
            "Events in the log the current read-model generation has not applied yet",
            registry=self.registry,
        )
        self.readmodel_pending = Gauge(
            "coc_ledger_readmodel_pending",
            "Users, agencies and intakes the current read-model generation has queued to "
            "evaluate or derive again (applied events whose answers are not written yet)",
            registry=self.registry,
        )
        self._event_children: dict[type, Any] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request (called on the event loop only)."""
        self.requests.observe((method if method in _METHODS else "OTHER", route, status), seconds)

    def count_saved(self, recordings: Sequence[Recording[UUID]]) -> None:
        """Count the events of one committed save (called in the saving thread)."""
        for recording in recordings:
            cls = type(recording.domain_event)
            child = self._event_children.get(cls)
            if child is None:
                child = self._event_children[cls] = self.events.labels(cls.__qualname__)
            child.inc()

    def set_positions(self, lag: dict[str, Any] | None) -> None:
        """Log head, read-model position, lag and queue; unknown (NaN) when the store did not
        answer."""
        self.store_up.set(0 if lag is None else 1)
        unknown = math.nan
        self.log_position.set(unknown if lag is None else lag["head"])
        self.readmodel_position.set(unknown if lag is None else lag["position"])
        self.readmodel_lag.set(unknown if lag is None else lag["lag"])
        self.readmodel_pending.set(unknown if lag is None else lag["pending"])

    def render(self, accept: str) -> tuple[bytes, str]:
        """The metrics in the format ``accept`` asks for (OpenMetrics or Prometheus text
        1.0.0), else the classic Prometheus text format 0.0.4; and its content type."""
        try:
            encoder, content_type = choose_encoder(accept)
        except Exception:  # an Accept header it cannot parse: the classic format
            encoder, content_type = generate_latest, CONTENT_TYPE_PLAIN_0_0_4
        return encoder(self.registry), content_type


METRICS = web.AppKey("metrics", Metrics)


def canonical_route(request: web.Request) -> str:
    """The matched route's path pattern, or "unmatched" (never the requested path)."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


async def count_saved_events(app: web.Application) -> AsyncIterator[None]:
    """A cleanup context: count the events the application's ledger saves while it runs."""
    remove = app[LEDGER].add_save_listener(app[METRICS].count_saved)
    try:
        yield
    finally:
        remove()


async def _lag(request: web.Request) -> dict[str, Any]:
    settings = request.app[SETTINGS]
    async with asyncio.timeout(settings.ready_timeout_seconds):
        lag: dict[str, Any] = await asyncio.to_thread(request.app[READ_MODELS].lag)
    return lag


@describe(
    Operation(
        "Prometheus metrics",
        public=True,
        media_type="text/plain",
        other_media_types=("application/openmetrics-text",),
        description="The Prometheus text format 0.0.4; OpenMetrics when `Accept` asks for it.",
    )
)
async def metrics(request: web.Request) -> web.StreamResponse:
    """``GET /metrics``: the Prometheus text exposition format."""
    try:
        lag: dict[str, Any] | None = await _lag(request)
    except Exception:  # the scrape still succeeds; coc_ledger_store_up says what happened
        lag = None
    registry = request.app[METRICS]
    registry.set_positions(lag)
    body, content_type = registry.render(request.headers.get("Accept", ""))
    return web.Response(body=body, headers={"Content-Type": content_type})


@describe(
    Operation(
        "Is the service ready: the store answers and the read models are not far behind",
        Ready,
        public=True,
        description="503 `not_ready` with `checks` naming what failed.",
    )
)
async def readyz(request: web.Request) -> web.StreamResponse:
    """``GET /readyz``: 200 when the store answers and the read models are less than
    ``ready_max_lag_events`` behind the log, else a 503 problem naming the failed checks."""
    settings = request.app[SETTINGS]
    checks: dict[str, dict[str, Any]] = {}
    try:
        async with asyncio.timeout(settings.ready_timeout_seconds):
            head = await asyncio.to_thread(request.app[LEDGER].head)
        checks["store"] = {"ok": True, "head": head}
    except Exception as err:  # whatever the reason, a store that does not answer is not ready
        checks["store"] = {"ok": False, "error": _why(err)}
    if checks["store"]["ok"]:
        checks["readmodels"] = await _readmodels_check(request, settings.ready_max_lag_events)
    else:
        checks["readmodels"] = {"ok": False, "error": "not checked: the store did not answer"}
    failed = [name for name, check in checks.items() if not check["ok"]]
    if failed:
        raise ApiProblem(
            503,
            "not_ready",
            f"not ready: {', '.join(failed)} check failed; see 'checks'",
            headers={"Retry-After": "5"},
            checks=checks,
        )
    return model_response(Ready(status="ready", checks=checks))


async def _readmodels_check(request: web.Request, max_lag: int) -> dict[str, Any]:
    try:
        lag = await _lag(request)
    except Exception as err:
        return {"ok": False, "error": _why(err)}
    check: dict[str, Any] = {
        "ok": lag["generation"] is not None and lag["lag"] <= max_lag,
        "generation": lag["generation"],
        "position": lag["position"],
        "lag": lag["lag"],
        "max_lag": max_lag,
        "pending": lag["pending"],
    }
    if lag["generation"] is None:
        check["error"] = "no read-model generation is current"
    elif not check["ok"]:
        check["error"] = f"{lag['lag']} events behind the log (at most {max_lag})"
    return check


def _why(err: BaseException) -> str:
    """A failure named by its type only (messages of database errors can quote data)."""
    return "timed out" if isinstance(err, TimeoutError) else type(err).__name__


def observability_routes() -> list[web.RouteDef]:
    return [
        web.get("/readyz", readyz, name="readyz"),
        web.get("/metrics", metrics, name="metrics"),
    ]
