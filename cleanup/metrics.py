"""The retention purge's Prometheus metrics, read from the database at each scrape: the last
purge that ran to an end (dry runs, and runs skipped because another held the lock, aside).
Registered with core.metrics by CleanupConfig.ready."""

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric

from cleanup.models import PurgeOutcome, PurgeRun
from core.metrics import PREFIX


def purge_state_families() -> Iterator[Metric]:
    last = (
        PurgeRun.objects.filter(
            dry_run=False,
            finished_at__isnull=False,
            outcome__in=(PurgeOutcome.SUCCEEDED, PurgeOutcome.FAILED),
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
        value=1 if last.outcome == PurgeOutcome.SUCCEEDED else 0,
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
