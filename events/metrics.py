"""The events' Prometheus metrics: events accepted (counted in the process that stored them) and,
read from the database at each scrape, events per sync status, the pending backlog's oldest age
and the sync latency; consent changes per status and the oldest pending one's age. Registered
with core.metrics by EventsConfig.ready."""

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily, Metric

from core.commit_batches import CommitBatches
from core.metrics import PREFIX
from events import selectors
from events.models import ConsentChange, ConsentStatus, Event, SyncStatus

# Sync latency is measured over the events sent in this window before the scrape.
SYNC_LATENCY_WINDOW = timedelta(minutes=15)
# Only events created this long before the scrape are looked at (an index range, not a scan).
SYNC_LATENCY_LOOKBACK = timedelta(hours=6)
SYNC_LATENCY_SAMPLE = 10_000
SYNC_LATENCY_QUANTILES = (0.5, 0.95, 0.99)

EVENTS_ACCEPTED = Counter(
    f"{PREFIX}_events_accepted",
    "Events stored by the API (committed; repeated uniqueIds not counted).",
)


# Counted after commit, once per transaction: a rolled-back ingest accepted nothing.
_events_accepted: CommitBatches[Any] = CommitBatches(lambda ids: EVENTS_ACCEPTED.inc(len(ids)))


@receiver(post_save, sender=Event, dispatch_uid="metrics_event_accepted")
def _on_event_saved(sender: type[Event], instance: Event, created: bool, **kwargs: Any) -> None:
    # Every new event, saved alone or by the bulk ingest (which sends post_save for its rows).
    if created:
        _events_accepted.add(instance.pk, using=kwargs.get("using"))


def _quantile(ordered: list[float], q: float) -> float:
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def event_state_families() -> Iterator[Metric]:
    now = timezone.now()
    by_status = selectors.event_counts_by_sync_status()
    events = GaugeMetricFamily(
        f"{PREFIX}_events",
        "Stored events by sync status (pending: the backlog; purged events leave).",
        labels=["sync_status"],
    )
    for status in SyncStatus.values:
        events.add_metric([status], by_status.get(status, 0))
    yield events

    oldest = selectors.event_pending_oldest_created_at()
    yield GaugeMetricFamily(
        f"{PREFIX}_events_pending_oldest_age_seconds",
        "Age of the oldest event not yet sent (0 when none is pending).",
        value=(now - oldest).total_seconds() if oldest else 0,
    )
    yield from _sync_latency(now)


def _sync_latency(now: datetime) -> Iterator[Metric]:
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


def consent_state_families() -> Iterator[Metric]:
    """Consent changes by status, and how long the oldest pending one has waited: a consent
    change held back (Klaviyo failing, an earlier change of the same address retrying) shows
    here before anyone looks in admin."""
    now = timezone.now()
    by_status = dict(ConsentChange.objects.order_by().values_list("status").annotate(Count("id")))
    changes = GaugeMetricFamily(
        f"{PREFIX}_consent_changes",
        "Consent, suppression and list changes by status (pending: not yet all in Klaviyo).",
        labels=["status"],
    )
    for status in ConsentStatus.values:
        changes.add_metric([status], by_status.get(status, 0))
    yield changes
    oldest = (
        ConsentChange.objects.filter(status=ConsentStatus.PENDING)
        .order_by("id")
        .values_list("created_at", flat=True)
        .first()
    )
    yield GaugeMetricFamily(
        f"{PREFIX}_consent_changes_pending_oldest_age_seconds",
        "Age of the oldest consent change not yet sent (0 when none is pending).",
        value=(now - oldest).total_seconds() if oldest else 0,
    )
