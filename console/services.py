"""Writes of the staff console: the sync-health snapshot, and "retry these" for a reason."""

from __future__ import annotations

import time
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from console.models import SyncHealthSnapshot
from console.selectors import sync_health_figures
from events.failures import error_texts_for_reason
from events.models import Event
from klaviyo_sync.tasks import RetryQueued, events_retry_and_queue

# Snapshots kept: the backlog chart shows the last day; one more day of margin.
SNAPSHOT_HISTORY = timedelta(hours=48)
# Events one "retry these" sends again at most (press it again for more).
RETRY_CAP = 100_000
# Error texts per IN (...) list when reading the ids of a reason's events.
TEXTS_PER_QUERY = 100


def sync_health_refresh() -> SyncHealthSnapshot:
    """Computes the dashboard's figures now and stores them; drops snapshots past the history."""
    now = timezone.now()
    started = time.perf_counter()
    figures = sync_health_figures(now=now)
    snapshot = SyncHealthSnapshot.objects.create(
        taken_at=now,
        pending=figures["events"]["pending"],
        failed=figures["events"]["failed"],
        compute_ms=round((time.perf_counter() - started) * 1000, 1),
        figures=figures,
    )
    SyncHealthSnapshot.objects.filter(taken_at__lt=now - SNAPSHOT_HISTORY).delete()
    return snapshot


def sync_health_current() -> SyncHealthSnapshot:
    """The newest snapshot, or a new one when it is older than twice DASHBOARD_REFRESH_SECONDS
    (beat refreshes it every DASHBOARD_REFRESH_SECONDS; without beat, the page does)."""
    latest = SyncHealthSnapshot.objects.order_by("-taken_at").first()
    max_age = timedelta(seconds=2 * settings.DASHBOARD_REFRESH_SECONDS)
    if latest is None or latest.taken_at < timezone.now() - max_age:
        return sync_health_refresh()
    return latest


def events_retry_reason(*, status: str, key: str, limit: int = RETRY_CAP) -> RetryQueued:
    """Sends again the events in `status` (failed or skipped) that failed for this reason."""
    texts = error_texts_for_reason(status=status, key=key)
    ids: list[str] = []
    for start in range(0, len(texts), TEXTS_PER_QUERY):
        chunk = texts[start : start + TEXTS_PER_QUERY]
        rows = Event.objects.filter(sync_status=status, last_error__in=chunk).order_by()
        ids += [str(event_id) for event_id in rows.values_list("id", flat=True)[: limit - len(ids)]]
        if len(ids) >= limit:
            break
    return events_retry_and_queue(ids, statuses=(status,))
