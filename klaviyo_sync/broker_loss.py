"""Tasks lost with the broker: a Redis restarted without persistence (or flushed) comes back
with an empty queue, and every event whose task was waiting there would wait for the sweep of
stale rows (SYNC_STALE_PENDING_SECONDS, 10 minutes) before anyone queued it again.

The sweeper keeps a marker key in the broker's own Redis database. A queue that lost its tasks
lost the marker with them: the next sweep finds it missing, makes every pending event due at
once (a claimed one at the end of its lease, a scheduled retry at its time: their tasks are
gone too) and sets the marker again. On a first start the marker is missing too: the pending
events are queued once more, which costs nothing but a task that finds them claimed or sent.

The embedded broker keeps its queue in files beside the database: nothing to lose there.
"""

from __future__ import annotations

import logging
from datetime import datetime

import redis
from django.conf import settings
from django.db.models import Case, F, Q, Value, When

from core.db import run_retrying
from events.models import Event, SyncStatus

logger = logging.getLogger(__name__)

MARKER_KEY = "klaviyo_backend:broker_queue_marker"
# Rows per UPDATE, each its own short statement: a backlog of a million rows is never locked
# at once while ingest and the sync go on.
BATCH_SIZE = 5_000

_clients: dict[str, redis.Redis] = {}


def _broker_redis() -> redis.Redis | None:
    url = settings.CELERY_BROKER_URL
    if settings.EMBEDDED_BROKER or not url.startswith(("redis://", "rediss://")):
        return None
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
    return _clients[url]


def broker_queue_lost() -> bool:
    """Whether the broker's Redis came back without the marker the last sweep left: its queue
    (and the tasks in it) is not the one the pending events were queued on. False when Redis
    doesn't answer (nothing can be queued then anyway) or the broker is embedded."""
    client = _broker_redis()
    if client is None:
        return False
    try:
        return not client.exists(MARKER_KEY)
    except redis.RedisError as error:
        logger.warning("Could not read the broker's queue marker: %s", error)
        return False


def broker_queue_mark() -> None:
    client = _broker_redis()
    if client is None:
        return
    try:
        client.set(MARKER_KEY, "1")
    except redis.RedisError as error:
        # The next sweep finds it missing again and queues the pending events once more.
        logger.warning("Could not set the broker's queue marker: %s", error)


def events_due_after_broker_loss(*, now: datetime) -> int:
    """Makes the pending events whose tasks were in the lost queue due for the sweeper: at
    once, or when their lease or scheduled retry ends if that is later. Returns how many."""
    # Waiting for a task that may be gone: never queued yet by a sweep (null), or queued with a
    # later re-queue time than its claim or retry needs. Updated rows drop out of this filter.
    waiting = Event.objects.filter(sync_status=SyncStatus.PENDING).filter(
        Q(requeue_at__isnull=True)
        | Q(requeue_at__gt=now)
        & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=F("requeue_at")))
    )
    due_at = Case(When(next_attempt_at__gt=now, then=F("next_attempt_at")), default=Value(now))
    total = 0
    while ids := list(waiting.order_by().values_list("id", flat=True)[:BATCH_SIZE]):
        total += run_retrying(
            lambda ids=ids: waiting.filter(id__in=ids).update(requeue_at=due_at),
            what="Marking events due after the broker lost its queue",
        )
    return total
