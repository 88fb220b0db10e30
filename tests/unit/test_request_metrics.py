"""The request counter and latency histogram expose what prometheus-client's own Counter and
Histogram would for the same requests."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from api.observability import LATENCY_BUCKETS, Metrics

USER = "/v1/cocs/{coc}/users/{ref}"
# on a bucket's bound, between bounds, below the first and above the last
OBSERVED = [
    ("GET", USER, 200, 0.001),
    ("GET", USER, 200, 0.0042),
    ("GET", USER, 200, 0.0),
    ("GET", USER, 404, 0.01),
    ("POST", "/v1/commands/register-coc", 201, 0.3),
    ("GET", USER, 200, 42.0),
    ("BREW", "unmatched", 405, 0.002),
]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.name.endswith("_created") and s.name.startswith("coc_ledger_http_")
    }


def test_requests_and_latencies_are_exposed_as_prometheus_client_would() -> None:
    metrics = Metrics()
    registry = CollectorRegistry()
    labels = ("method", "route", "status")
    counter = Counter("coc_ledger_http_requests", "", labels, registry=registry)
    histogram = Histogram(
        "coc_ledger_http_request_duration_seconds",
        "",
        labels,
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    for method, route, status, seconds in OBSERVED:
        metrics.observe_request(method, route, status, seconds)
        method = method if method != "BREW" else "OTHER"
        counter.labels(method, route, str(status)).inc()
        histogram.labels(method, route, str(status)).observe(seconds)

    ours = samples(metrics.render("")[0].decode())
    expected = samples(generate_latest(registry).decode())

    assert ours == expected
    key = (("le", "0.005"), ("method", "GET"), ("route", USER), ("status", "200"))
    assert ours[("coc_ledger_http_request_duration_seconds_bucket", key)] == 3
    assert ours[("coc_ledger_http_requests_total", key[1:])] == 4


def test_openmetrics_renders_the_same_counts() -> None:
    metrics = Metrics()
    for method, route, status, seconds in OBSERVED:
        metrics.observe_request(method, route, status, seconds)
    body, content_type = metrics.render("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert samples(body.decode()) == samples(metrics.render("")[0].decode())
