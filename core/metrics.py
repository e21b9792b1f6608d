"""Prometheus metrics for /metrics.

Two kinds, because gunicorn serves from several processes:
- Request counts and latency, and events accepted, are counted in the process that served the
  request. With PROMETHEUS_MULTIPROC_DIR set (`manage.py serve` sets it), every worker writes them
  to files there and a scrape adds them up across workers.
- The pipeline's state (events per sync status, pending backlog and its oldest age, sync latency,
  the last purge) is read from the database at scrape time, so it is the same whichever worker
  answers and whatever process (Celery worker, beat) changed it.
"""

import logging
import os
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.apps import apps
from django.db import DatabaseError, transaction
from django.db.models import Count, Min
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone
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

from events.models import Event, SyncStatus
from events.services import events_bulk_created

logger = logging.getLogger(__name__)

# The `_created` series double the output and no dashboard here reads them.
disable_created_metrics()

PREFIX = "klaviyo_backend"
# Sync latency is measured over the events sent in this window before the scrape.
SYNC_LATENCY_WINDOW = timedelta(minutes=15)
# Only events created this long before the scrape are looked at (an index range, not a scan).
SYNC_LATENCY_LOOKBACK = timedelta(hours=6)
SYNC_LATENCY_SAMPLE = 10_000
SYNC_LATENCY_QUANTILES = (0.5, 0.95, 0.99)

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
EVENTS_ACCEPTED = Counter(
    f"{PREFIX}_events_accepted",
    "Events stored by the API (committed; repeated uniqueIds not counted).",
)


# Methods a label may name; any other (clients may invent them: "FOO1", "X-1234") is "other",
# so that anonymous traffic can't add series without bound. The same for routes: only URL
# pattern names, never the path.
KNOWN_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
)


def request_method(request: HttpRequest) -> str:
    """A bounded label: the request's method if it is a standard one, else "other"."""
    method = request.method or ""
    return method if method in KNOWN_METHODS else "other"


def request_route(request: HttpRequest) -> str:
    """A bounded label: the URL pattern's name, never the raw path (ids would explode it)."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    if match.url_name is None and match.func.__name__ == "not_found":
        return "not_found"
    return match.view_name or "unnamed"


def request_observe(*, method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method=method, route=route, status=str(status)).inc()
    REQUEST_SECONDS.labels(method=method, route=route).observe(seconds)


def events_accepted_count(*, count: int) -> None:
    # After commit: a rolled-back ingest accepted nothing.
    transaction.on_commit(lambda: EVENTS_ACCEPTED.inc(count))


@receiver(post_save, sender=Event, dispatch_uid="metrics_event_accepted")
def _on_event_saved(sender: type[Event], instance: Event, created: bool, **kwargs: Any) -> None:
    if created:
        events_accepted_count(count=1)


@receiver(events_bulk_created, dispatch_uid="metrics_events_bulk_accepted")
def _on_events_bulk_created(sender: type[Event], event_ids: list[Any], **kwargs: Any) -> None:
    events_accepted_count(count=len(event_ids))


def _quantile(ordered: list[float], q: float) -> float:
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


class PipelineCollector(Collector):
    """The sync pipeline's state, read from the database at each scrape."""

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
        now = timezone.now()
        by_status = dict(
            Event.objects.order_by()
            .values_list("sync_status")
            .annotate(count=Count("id"))
            .values_list("sync_status", "count")
        )
        events = GaugeMetricFamily(
            f"{PREFIX}_events",
            "Stored events by sync status (pending: the backlog; purged events leave).",
            labels=["sync_status"],
        )
        for status in SyncStatus.values:
            events.add_metric([status], by_status.get(status, 0))
        yield events

        oldest = Event.objects.filter(sync_status=SyncStatus.PENDING).aggregate(
            oldest=Min("created_at")
        )["oldest"]
        yield GaugeMetricFamily(
            f"{PREFIX}_events_pending_oldest_age_seconds",
            "Age of the oldest event not yet sent (0 when none is pending).",
            value=(now - oldest).total_seconds() if oldest else 0,
        )
        yield from self._sync_latency(now)
        yield from self._last_purge()

    def _sync_latency(self, now: Any) -> Iterator[Metric]:
        rows = Event.objects.filter(
            sync_status=SyncStatus.SENT,
            created_at__gte=now - SYNC_LATENCY_LOOKBACK,
            synced_at__gte=now - SYNC_LATENCY_WINDOW,
        ).values_list("created_at", "synced_at")[:SYNC_LATENCY_SAMPLE]
        latencies = sorted(max(0.0, (synced - created).total_seconds()) for created, synced in rows)
        quantiles = GaugeMetricFamily(
            f"{PREFIX}_sync_latency_seconds",
            "Seconds from an event's storage to Klaviyo's acceptance, over the events sent in "
            f"the last {int(SYNC_LATENCY_WINDOW.total_seconds())} s (absent when none was sent).",
            labels=["quantile"],
        )
        for q in SYNC_LATENCY_QUANTILES if latencies else ():
            quantiles.add_metric([str(q)], _quantile(latencies, q))
        yield quantiles
        yield GaugeMetricFamily(
            f"{PREFIX}_sync_latency_window_events",
            "Events the sync latency quantiles are computed from.",
            value=len(latencies),
        )

    def _last_purge(self) -> Iterator[Metric]:
        """The last retention purge that ran to an end (dry runs, and runs skipped because
        another held the lock, aside), from cleanup.PurgeRun."""
        try:
            purge_run = apps.get_model("cleanup", "PurgeRun")
        except LookupError:  # the cleanup app has no such model (yet): nothing to report
            return
        last = (
            purge_run.objects.filter(
                dry_run=False, finished_at__isnull=False, outcome__in=("succeeded", "failed")
            )
            .order_by("-finished_at")
            .first()
        )
        if last is None:
            return
        yield GaugeMetricFamily(
            f"{PREFIX}_purge_last_finished_timestamp_seconds",
            "When the last retention purge finished (Unix time).",
            value=last.finished_at.timestamp(),
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_purge_last_succeeded",
            "1 when the last retention purge succeeded, 0 when it failed.",
            value=1 if last.outcome == "succeeded" else 0,
        )
        if last.started_at is not None:
            yield GaugeMetricFamily(
                f"{PREFIX}_purge_last_duration_seconds",
                "How long the last retention purge ran.",
                value=(last.finished_at - last.started_at).total_seconds(),
            )
        deleted = GaugeMetricFamily(
            f"{PREFIX}_purge_last_deleted",
            "Rows the last retention purge deleted, by kind (unsynced_events: events deleted "
            "before they reached Klaviyo, also counted in events).",
            labels=["kind"],
        )
        for kind in ("events", "unsynced_events", "profiles"):
            deleted.add_metric([kind], getattr(last, f"{kind}_deleted", 0))
        yield deleted


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
