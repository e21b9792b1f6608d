"""Writes of the staff console: the sync-health snapshot, and "retry these" for a reason."""

from __future__ import annotations

import time
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from console.models import SyncHealthSnapshot
from console.selectors import sync_health_figures
from events.failures import failure_reasons_fill, reason_of_key
from events.models import Event
from klaviyo_sync.tasks import RetryQueued, events_retry_and_queue

# Snapshots kept: the backlog chart shows the last day; one more day of margin.
SNAPSHOT_HISTORY = timedelta(hours=48)
# Events one "retry these" sends again at most (press it again for more).
RETRY_CAP = 100_000
# Failed or skipped rows one refresh gives a reason at most (rows written without one).
REASONS_FILLED_PER_REFRESH = 20_000


def sync_health_refresh() -> SyncHealthSnapshot:
    """Computes the dashboard's figures now and stores them; drops snapshots past the history."""
    now = timezone.now()
    started = time.perf_counter()
    failure_reasons_fill(limit=REASONS_FILLED_PER_REFRESH)
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
    """Sends again the events in `status` (failed or skipped) that failed for this reason:
    read on the (sync_status, failure_reason) index."""
    reason = reason_of_key(key=key)
    if reason is None:
        return RetryQueued(requeued=0, not_queued=0)
    rows = Event.objects.filter(sync_status=status, failure_reason=reason).order_by()
    ids = [str(event_id) for event_id in rows.values_list("id", flat=True)[:limit]]
    return events_retry_and_queue(ids, statuses=(status,))
