"""New events go to Klaviyo through Celery, once their transaction has committed (a task must
never look for rows it cannot see yet).

One post_save receiver for every new event, saved alone or by the bulk ingest (which sends
post_save for the rows it inserts): the ids of one transaction are gathered and queued together
when it commits, in tasks of KLAVIYO_BULK_BATCH_SIZE (core/commit_batches.py).
"""

from typing import Any

from django.db import transaction

from core.commit_batches import CommitBatches
from events.models import ConsentChange, ErasureRequest, Event, ProfileChange, SyncStatus
from klaviyo_sync.erasure_tasks import queue_erasure_send
from klaviyo_sync.tasks import (
    queue_consent_changes,
    queue_events_in_batches,
    queue_profiles_sync,
)

events_to_sync: CommitBatches[str] = CommitBatches(queue_events_in_batches)
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
