"""Prometheus metrics for /metrics.

Two kinds, because gunicorn serves from several processes:
- Request counts and latency (and the apps' own counters, such as events accepted) are counted
  in the process that served the request. With PROMETHEUS_MULTIPROC_DIR set (`manage.py serve`
  sets it), every worker writes them to files there and a scrape adds them up across workers.
- The pipeline's state is read from the database at scrape time, so it is the same whichever
  worker answers and whatever process (Celery worker, beat) changed it. The apps that own the
  data register what to read (`state_source_register`, from their AppConfig.ready): core sits
  below them and imports none.
"""

import functools
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

# The `_created` series double the output and no dashboard here reads them.
disable_created_metrics()

PREFIX = "klaviyo_backend"

REQUESTS = Counter(
    f"{PREFIX}_http_requests",
    "HTTP requests served, by method, route and status.",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    f"{PREFIX}_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


# Methods a label may name; any other (clients may invent them: "FOO1", "X-1234") is "other",
# so that anonymous traffic can't add series without bound. The same for routes: only URL
# pattern names, never the path.
KNOWN_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
)


def request_route(request: HttpRequest) -> str:
    """A bounded label: the URL pattern's name, never the raw path (ids would explode it)."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    if match.url_name is None and match.func.__name__ == "not_found":
        return "not_found"
    return match.view_name or "unnamed"


def request_observe(*, method: str, route: str, status: int, seconds: float) -> None:
    """Counts a request; a method that is not a standard one is counted as "other"."""
    count, duration = _request_series(method if method in KNOWN_METHODS else "other", route, status)
    count.inc()
    duration.observe(seconds)


@functools.lru_cache(maxsize=4096)
def _request_series(method: str, route: str, status: int) -> tuple[Any, Any]:
    """The count and the latency series of a method, route and status: labels() checks and
    converts its values under a lock at each call, which every request would pay twice. The
    labels are bounded (methods, route names), so is this."""
    return (
        REQUESTS.labels(method=method, route=route, status=str(status)),
        REQUEST_SECONDS.labels(method=method, route=route),
    )


StateSource = Callable[[], Iterator[Metric]]
_state_sources: list[StateSource] = []


def state_source_register(source: StateSource) -> None:
    """Adds metric families read from the database at each scrape, in registration order (the
    order of INSTALLED_APPS). A DatabaseError from any of them makes the scrape say so."""
    if source not in _state_sources:
        _state_sources.append(source)


class PipelineCollector(Collector):
    """The pipeline's state, read from the database at each scrape."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(f"{PREFIX}_database_up", "1 when the database answered the scrape.")
        try:
            families = list(self._pipeline_families())
        except DatabaseError as error:
            logger.warning("Metrics: database unreachable: %s", error)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _pipeline_families(self) -> Iterator[Metric]:
        for source in _state_sources:
            yield from source()


def metrics_exposition() -> bytes:
    """The text every scrape gets: process metrics (added up across workers in multiprocess
    mode) followed by the pipeline's state from the database."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        process_registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(process_registry)
    else:
        process_registry = REGISTRY
    pipeline_registry = CollectorRegistry(auto_describe=False)
    pipeline_registry.register(PipelineCollector())
    return generate_latest(process_registry) + generate_latest(pipeline_registry)


def metrics_multiprocess_dir_prepare() -> str:
    """Called before gunicorn starts: points PROMETHEUS_MULTIPROC_DIR at an empty directory
    (a new temporary one unless set), so that every worker's counts add up at a scrape and
    none are left from an earlier run. Returns the directory."""
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    directory = Path(configured) if configured else Path(tempfile.mkdtemp(prefix="prometheus-"))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    return str(directory)
