"""A broker that comes back without its queue (Redis restarted without persistence, or
flushed): the sweeper finds its marker gone and makes the pending events whose tasks were lost
due at once, not after SYNC_STALE_PENDING_SECONDS; a claim still waits for its lease and a
scheduled retry for its time."""

import shutil
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from django.utils import timezone

from events.consent_services import consent_change_create
from events.models import ConsentChange, Event, SyncStatus
from events.tests.factories import EventFactory
from klaviyo_sync.broker_loss import (
    MARKER_KEY,
    broker_queue_lost,
    broker_queue_mark,
    events_due_after_broker_loss,
)
from klaviyo_sync.tasks import requeue_stale_pending_events
from klaviyo_sync.tests.conftest import BASE
from testkit.procs import free_port, start_redis
from tests.services import unavailable

pytestmark = pytest.mark.django_db


def later(**kwargs) -> timezone.datetime:
    return timezone.now() + timedelta(**kwargs)


@pytest.fixture(scope="module")
def private_redis_url() -> Iterator[str]:
    """A memory-only `redis-server` of this module's own. The marker these tests remove is
    then nobody else's: the shared broker database's marker is read by every other test's
    sweep (test_sweeper.py sets it first), which may run at the same time (pytest-xdist)."""
    if not shutil.which("redis-server"):
        unavailable("needs the redis-server program (apt install redis-server)")
    port = free_port()
    server = start_redis(port)
    yield f"redis://127.0.0.1:{port}/0"
    server.stop()


@pytest.fixture
def redis_broker(settings, private_redis_url: str) -> Iterator[redis.Redis]:
    """This process's settings pointed at a real Redis broker, its marker key removed after."""
    settings.CELERY_BROKER_URL, settings.EMBEDDED_BROKER = private_redis_url, False
    client = redis.Redis.from_url(private_redis_url)
    yield client
    client.delete(MARKER_KEY)
    client.close()


def test_it_makes_events_whose_task_may_be_lost_due_at_once():
    now = timezone.now()
    queued_when_saved = EventFactory(requeue_at=None)
    queued_by_a_sweep = EventFactory(requeue_at=now + timedelta(minutes=10))

    marked = events_due_after_broker_loss(now=now)

    assert marked == 2
    assert Event.objects.get(pk=queued_when_saved.pk).requeue_at == now
    assert Event.objects.get(pk=queued_by_a_sweep.pk).requeue_at == now


def test_it_keeps_a_claim_until_its_lease_ends_and_a_retry_until_its_time():
    now = timezone.now()
    lease_end, retry_at = now + timedelta(seconds=40), now + timedelta(minutes=3)
    claimed = EventFactory(attempts=1, next_attempt_at=lease_end, requeue_at=lease_end)
    retrying = EventFactory(
        attempts=2, next_attempt_at=retry_at, requeue_at=retry_at + timedelta(minutes=10)
    )
    sent = EventFactory(sync_status=SyncStatus.SENT, requeue_at=None)

    marked = events_due_after_broker_loss(now=now)

    assert marked == 1
    assert Event.objects.get(pk=claimed.pk).requeue_at == lease_end
    assert Event.objects.get(pk=retrying.pk).requeue_at == retry_at
    assert Event.objects.get(pk=sent.pk).requeue_at is None


def test_it_marks_a_backlog_in_batches_and_stops_when_none_is_left(monkeypatch):
    monkeypatch.setattr("klaviyo_sync.broker_loss.BATCH_SIZE", 2)
    now = timezone.now()
    EventFactory.create_batch(5, requeue_at=None)

    assert events_due_after_broker_loss(now=now) == 5
    assert set(Event.objects.values_list("requeue_at", flat=True)) == {now}
    assert events_due_after_broker_loss(now=now) == 0


def test_the_embedded_broker_never_loses_its_queue(settings):
    settings.EMBEDDED_BROKER = True

    assert broker_queue_lost() is False


def test_a_redis_without_the_marker_has_lost_its_queue_until_it_is_marked(redis_broker):
    redis_broker.delete(MARKER_KEY)

    assert broker_queue_lost() is True
    broker_queue_mark()
    assert broker_queue_lost() is False
    assert redis_broker.exists(MARKER_KEY)


def test_the_sweeper_sends_at_once_the_events_whose_tasks_the_broker_lost(
    redis_broker, klaviyo, sync_tasks
):
    klaviyo.post(f"{BASE}/events", status=202)
    redis_broker.delete(MARKER_KEY)  # Redis came back empty
    lost = EventFactory(requeue_at=later(minutes=9))  # its task was in the lost queue
    claimed = EventFactory(
        attempts=1, next_attempt_at=later(seconds=30), requeue_at=later(seconds=30)
    )

    queued = requeue_stale_pending_events.delay().get()

    assert queued == 1
    assert sync_tasks == [[str(lost.id)]]
    assert Event.objects.get(pk=lost.pk).sync_status == SyncStatus.SENT
    assert Event.objects.get(pk=claimed.pk).sync_status == SyncStatus.PENDING
    assert redis_broker.exists(MARKER_KEY)


def test_the_sweeper_leaves_queued_events_to_their_tasks_while_the_marker_is_there(
    redis_broker, sync_tasks
):
    broker_queue_mark()
    EventFactory(requeue_at=later(minutes=9))

    assert requeue_stale_pending_events.delay().get() == 0
    assert sync_tasks == []


def test_the_sweeper_queues_at_once_the_consent_changes_whose_tasks_the_broker_lost(
    redis_broker, klaviyo
):
    klaviyo.post(
        f"{BASE}/profile-suppression-bulk-create-jobs",
        status=202,
        json={"data": {"type": "profile-suppression-bulk-create-job", "id": "J1"}},
    )
    redis_broker.delete(MARKER_KEY)
    change = consent_change_create(kind="suppress", addresses=[{"email": "ann@example.com"}])

    requeue_stale_pending_events.delay().get()

    assert ConsentChange.objects.get(id=change.id).status == "sent"
