"""Sending events to Klaviyo again: those stored `skipped` while no key was set, those that
`failed`, or (after an incident on Klaviyo's side) even those `sent`, chosen by status, metric,
email and the time they were received. Used by `manage.py resync` and the admin action.

Each chosen event goes back to `pending` with a fresh attempt count and is queued like a new one
(the normal sync task, in bulk-sized batches). Safe to repeat: every event keeps its unique_id,
on which Klaviyo deduplicates, so an event that already reached it is not counted twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.conf import settings
from django.db.models import Count, Q, QuerySet

from events.models import Event, SyncStatus
from klaviyo_sync.services import events_retry_failed
from klaviyo_sync.tasks import queue_event_sync

# What may be sent again; pending events are on their way already.
RESYNC_STATUSES = (SyncStatus.SKIPPED, SyncStatus.FAILED, SyncStatus.SENT)
DEFAULT_STATUSES = (SyncStatus.SKIPPED, SyncStatus.FAILED)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ResyncSelection:
    statuses: Sequence[str] = DEFAULT_STATUSES
    metric: str | None = None
    email: str | None = None
    received_since: datetime | None = None  # created_at >= this
    received_until: datetime | None = None  # created_at < this

    def __post_init__(self) -> None:
        unknown = set(self.statuses) - set(RESYNC_STATUSES)
        if unknown or not self.statuses:
            raise ValueError(
                f"statuses must be among {', '.join(RESYNC_STATUSES)}, not {sorted(unknown)}"
            )


def events_for_resync(selection: ResyncSelection) -> QuerySet[Event]:
    events = Event.objects.filter(sync_status__in=list(selection.statuses))
    if selection.metric:
        events = events.filter(event_name=selection.metric)
    if selection.email:
        events = events.filter(email=selection.email.strip().lower())
    if selection.received_since:
        events = events.filter(created_at__gte=selection.received_since)
    if selection.received_until:
        events = events.filter(created_at__lt=selection.received_until)
    return events


def resync_counts(selection: ResyncSelection) -> dict[str, int]:
    """How many events the selection holds, by status."""
    rows = (
        events_for_resync(selection)
        .order_by()
        .values("sync_status")
        .annotate(n=Count("id"))
        .values_list("sync_status", "n")
    )
    return dict(rows)


@dataclass
class ResyncOutcome:
    queued: int = 0
    not_queued: int = 0  # the broker refused: pending, the sweeper queues them later


def events_resync(
    *, selection: ResyncSelection, on_progress: Progress | None = None
) -> ResyncOutcome:
    """Puts the selected events back to pending and queues them, a batch at a time, walking
    forward by (created_at, id): an event that fails again meanwhile is not taken twice."""
    total = events_for_resync(selection).count()
    outcome = ResyncOutcome()
    batch_size = settings.KLAVIYO_BULK_BATCH_SIZE
    after: tuple[datetime, UUID] | None = None
    while True:
        page = events_for_resync(selection)
        if after is not None:
            page = page.filter(Q(created_at__gt=after[0]) | Q(created_at=after[0], id__gt=after[1]))
        chunk = list(page.order_by("created_at", "id").values_list("created_at", "id")[:batch_size])
        if not chunk:
            break
        after = chunk[-1]
        ids = events_retry_failed(
            event_ids=[event_id for _, event_id in chunk], statuses=selection.statuses
        )
        if queue_event_sync(ids):
            outcome.queued += len(ids)
        else:
            outcome.not_queued += len(ids)
        if on_progress is not None:
            on_progress(outcome.queued + outcome.not_queued, total)
    return outcome
