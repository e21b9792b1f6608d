"""The sweeper: events left pending (a task lost while the broker was down, a crashed worker, a
retry that could not be queued) are queued again, in batches, and not again every minute."""

from datetime import timedelta

import pytest
from django.utils import timezone

from events.models import Event, SyncStatus
from events.tests.factories import EventFactory
from klaviyo_sync.services import events_requeue_stale
from klaviyo_sync.tasks import requeue_stale_pending_events
from klaviyo_sync.tests.conftest import BASE

pytestmark = pytest.mark.django_db

STALE = timedelta(minutes=10)


def ago(**kwargs) -> timezone.datetime:
    return timezone.now() - timedelta(**kwargs)


def test_it_sends_events_left_pending_past_the_threshold(klaviyo, settings, sync_tasks):
    settings.SYNC_STALE_PENDING_SECONDS = 600
    klaviyo.post(f"{BASE}/events", status=202)
    lost = EventFactory(created_at=ago(minutes=11))
    fresh = EventFactory(created_at=ago(minutes=2))
    sent = EventFactory(created_at=ago(hours=1), sync_status=SyncStatus.SENT)

    queued = requeue_stale_pending_events.delay().get()

    assert queued == 1
    assert sync_tasks == [[str(lost.id)]]
    lost.refresh_from_db()
    fresh.refresh_from_db()
    assert lost.sync_status == SyncStatus.SENT
    assert fresh.sync_status == SyncStatus.PENDING
    assert Event.objects.get(pk=sent.pk).attempts == 0


def test_it_leaves_alone_events_waiting_for_a_scheduled_retry():
    now = timezone.now()
    waiting = EventFactory(created_at=ago(hours=2), next_attempt_at=now + timedelta(minutes=30))
    recently_due = EventFactory(created_at=ago(hours=2), next_attempt_at=ago(minutes=5))
    long_due = EventFactory(created_at=ago(hours=2), next_attempt_at=ago(minutes=11))

    batches = events_requeue_stale(now=now, older_than=STALE, limit=1000, batch_size=1000)

    assert batches == [[str(long_due.id)]]
    assert {waiting.id, recently_due.id}.isdisjoint(
        Event.objects.filter(next_attempt_at=now).values_list("id", flat=True)
    )


def test_it_does_not_queue_the_same_events_again_until_the_threshold_passes_again():
    now = timezone.now()
    EventFactory.create_batch(3, created_at=ago(hours=1))

    first = events_requeue_stale(now=now, older_than=STALE, limit=1000, batch_size=1000)
    next_minute = events_requeue_stale(
        now=now + timedelta(minutes=1), older_than=STALE, limit=1000, batch_size=1000
    )
    much_later = events_requeue_stale(
        now=now + STALE + timedelta(seconds=1), older_than=STALE, limit=1000, batch_size=1000
    )

    assert [len(batch) for batch in first] == [3]
    assert next_minute == []
    assert sorted(much_later[0]) == sorted(first[0])


def test_it_queues_in_batches_up_to_a_limit_oldest_first():
    now = timezone.now()
    events = [EventFactory(created_at=ago(hours=1, minutes=i)) for i in range(7)]
    oldest_first = [str(e.id) for e in reversed(events)]

    batches = events_requeue_stale(now=now, older_than=STALE, limit=5, batch_size=2)
    rest = events_requeue_stale(now=now, older_than=STALE, limit=5, batch_size=2)

    assert batches == [oldest_first[0:2], oldest_first[2:4], oldest_first[4:5]]
    assert rest == [oldest_first[5:7]]


def test_it_walks_past_many_events_saved_in_the_same_instant():
    now = timezone.now()
    same_instant = ago(hours=1)
    EventFactory.create_batch(5, created_at=same_instant)

    batches = events_requeue_stale(now=now, older_than=STALE, limit=1000, batch_size=2)

    assert [len(batch) for batch in batches] == [2, 2, 1]
    assert len({event_id for batch in batches for event_id in batch}) == 5
