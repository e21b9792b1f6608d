"""New events go to Klaviyo through Celery, once their transaction has committed (a task must
never look for rows it cannot see yet).

One post_save receiver for every new event, saved alone or by the bulk ingest (which sends
post_save for the rows it inserts): the ids of one transaction are gathered and handed over
together when it commits (core/commit_batches.py).

A transaction of one event (POST /events) goes to this process's publisher: its thread queues
the events that came within SYNC_QUEUE_WINDOW_MS in one task (core/background_batches.py), so
the request pays no broker publish (a quarter of its CPU) and a busy process queues one task
for several events; on a quiet one an event waits those milliseconds, not more. A bulk request
is queued at once, in tasks of KLAVIYO_BULK_BATCH_SIZE: one publish is little beside its work,
and its events go together as the client grouped them, never merged with another request's
(which would change how they are sent: bulk jobs, sending.py). A process that dies holding ids
leaves their events pending: the sweeper queues them (SYNC_STALE_PENDING_SECONDS).
"""

from typing import Any

from django.conf import settings
from django.db import transaction

from core.background_batches import BackgroundBatches
from core.commit_batches import CommitBatches
from events.models import ConsentChange, ErasureRequest, Event, ProfileChange, SyncStatus
from klaviyo_sync.erasure_tasks import queue_erasure_send
from klaviyo_sync.tasks import (
    queue_consent_changes,
    queue_events_in_batches,
    queue_profiles_sync,
)

# Most single events the publisher puts in one task.
PUBLISHER_MAX_BATCH = 100

events_publisher: BackgroundBatches[str] = BackgroundBatches(
    queue_events_in_batches,
    window=lambda: settings.SYNC_QUEUE_WINDOW_MS / 1000,
    max_batch=PUBLISHER_MAX_BATCH,
    name="klaviyo-sync-publisher",
)


def events_committed(event_ids: list[str]) -> None:
    """Queues the sync of a committed transaction's new events: through the publisher, or at
    once (a bulk request, or SYNC_QUEUE_WINDOW_MS=0: unit tests, whose tasks run eagerly in
    the request's thread, have it so; the publisher's thread couldn't see their transaction).
    Celery's configuration is not asked: each read of it costs a single event 3% of its CPU."""
    if len(event_ids) == 1 and settings.SYNC_QUEUE_WINDOW_MS:
        events_publisher.add(event_ids)
    else:
        queue_events_in_batches(event_ids)


events_to_sync: CommitBatches[str] = CommitBatches(events_committed)
profiles_to_sync: CommitBatches[int] = CommitBatches(queue_profiles_sync)
consent_changes_to_sync: CommitBatches[int] = CommitBatches(queue_consent_changes)


def on_event_saved(
    sender: type[Event], instance: Event, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    # Only a new, pending event has something to send. A save of an existing row (the sync
    # recording its outcome, the admin, a factory's second save) changes nothing Klaviyo gets:
    # events are immutable there. Fixtures (raw) and rows created already settled aren't sent.
    if created and not raw and instance.sync_status == SyncStatus.PENDING:
        events_to_sync.add(str(instance.id), using=kwargs.get("using"))


def on_profile_change_saved(
    sender: type[ProfileChange],
    instance: ProfileChange,
    created: bool,
    raw: bool = False,
    **kwargs: Any,
) -> None:
    """A change of POST /profiles (single or bulk): its profile's sync, queued on commit."""
    if created and not raw:
        profiles_to_sync.add(instance.profile_id, using=kwargs.get("using"))


def on_consent_change_saved(
    sender: type[ConsentChange],
    instance: ConsentChange,
    created: bool,
    raw: bool = False,
    **kwargs: Any,
) -> None:
    """A consent change (subscribe, suppress, list, ...): its send, queued on commit."""
    if created and not raw:
        consent_changes_to_sync.add(instance.id, using=kwargs.get("using"))


def on_erasure_saved(
    sender: type[ErasureRequest],
    instance: ErasureRequest,
    created: bool,
    raw: bool = False,
    **kwargs: Any,
) -> None:
    """A new erasure request: its deletion job queued once the erasure has committed."""
    if created and not raw:
        erasure_id = str(instance.id)
        transaction.on_commit(lambda: queue_erasure_send(erasure_id), using=kwargs.get("using"))
