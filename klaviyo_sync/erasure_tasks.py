"""Celery tasks of erasures: sending one request's deletion job (klaviyo_sync/erasure_sync.py),
queued again while it must wait or after a failure it may retry, and the sweeper of the
requests whose task was lost. Registered when the app loads (receivers.py imports this
module), as tasks.py is by autodiscovery."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from klaviyo_sync.erasure_sync import (
    erasure_send,
    erasures_due,
    import_jobs_forget,
)

logger = logging.getLogger(__name__)


def queue_erasure_send(erasure_id: str, *, countdown: float | None = None) -> bool:
    """Queues the sending of one erasure request; False (logged) when the broker can't take
    it: the row stays pending and the sweeper queues it."""
    try:
        send_erasure.apply_async(args=[erasure_id], countdown=countdown or None)
    except Exception as error:  # as queue_event_sync: no broker error reaches the caller
        logger.warning(
            "Could not queue erasure %s (%s: %s); the sweeper will",
            erasure_id,
            type(error).__name__,
            error,
        )
        return False
    return True


@shared_task(
    name="klaviyo_sync.erasure_tasks.send_erasure",
    autoretry_for=(DatabaseError,),
    retry_backoff=5,
    max_retries=5,
)
def send_erasure(erasure_id: str) -> str:
    outcome = erasure_send(erasure_id=erasure_id)
    if outcome.retry_in is not None:
        queue_erasure_send(erasure_id, countdown=outcome.retry_in)
    return outcome.status


@shared_task(name="klaviyo_sync.erasure_tasks.requeue_stale_erasures")
def requeue_stale_erasures() -> int:
    """Queues the pending erasures whose task was lost (beat, every SYNC_SWEEP_INTERVAL_SECONDS),
    and forgets import jobs whose follower was lost."""
    now = timezone.now()
    import_jobs_forget(now=now)
    ids = erasures_due(now=now, limit=settings.SYNC_SWEEP_MAX_EVENTS)
    for erasure_id in ids:
        queue_erasure_send(erasure_id)
    if ids:
        logger.info("Sweeper re-queued %d erasures", len(ids), extra={"erasures": len(ids)})
    return len(ids)
