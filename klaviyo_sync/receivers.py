"""New events go to Klaviyo through Celery, once their transaction has committed (a task must
never look for rows it cannot see yet): one task per saved event, one per bulk batch."""

from __future__ import annotations

from functools import partial
from typing import Any
from uuid import UUID

from django.db import transaction

from events.models import Event
from klaviyo_sync.tasks import queue_event_sync, queue_events_in_batches


def on_event_saved(sender: type[Event], instance: Event, created: bool, **kwargs: Any) -> None:
    if created and not kwargs.get("raw"):
        transaction.on_commit(partial(queue_event_sync, [str(instance.id)]))


def on_events_bulk_created(sender: type[Event], event_ids: list[UUID], **kwargs: Any) -> None:
    ids = [str(event_id) for event_id in event_ids]
    transaction.on_commit(partial(queue_events_in_batches, ids))
