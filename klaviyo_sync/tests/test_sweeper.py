"""The sweeper: events left pending are queued again, in batches: at once those that are due
(stored while the broker was down, claimed by a worker that died, a retry that could not be
queued), after SYNC_STALE_PENDING_SECONDS those whose task was lost in the broker; and never
the same ones again before that long."""

from datetime import timedelta

import pytest
from django.utils import timezone

from events.models import Event, SyncStatus
from events.tests.factories import EventFactory
from klaviyo_sync.broker_loss import broker_queue_mark
from klaviyo_sync.services import events_requeue_stale
from klaviyo_sync.tasks import requeue_stale_pending_events
from klaviyo_sync.tests.conftest import BASE

pytestmark = pytest.mark.django_db

STALE = timedelta(minutes=10)


@pytest.fixture(autouse=True)
def _broker_kept_its_queue() -> None:
    """The broker's marker is in place: these sweeps are of rows whose time came, not of a
    queue the broker lost (test_broker_loss.py)."""
    broker_queue_mark()


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


def test_it_leaves_alone_events_whose_time_has_not_come():
    now = timezone.now()
    # A retry waiting for its task, a batch held by a worker within its lease.
    EventFactory(
        created_at=ago(hours=2),
        next_attempt_at=now + timedelta(minutes=30),
        requeue_at=now + timedelta(minutes=40),
    )
    EventFactory(
        created_at=ago(hours=2),
        next_attempt_at=now + timedelta(seconds=30),
        requeue_at=now + timedelta(seconds=30),
    )

    assert events_requeue_stale(now=now, older_than=STALE, limit=1000, batch_size=1000) == []


def test_it_queues_due_events_at_once_however_recently_saved():
    now = timezone.now()
    # Stored a second ago while the broker was down; a claim whose worker died as its lease
    # ended; a retry whose task could not be queued.
    not_queued = EventFactory(created_at=ago(seconds=1), requeue_at=ago(seconds=1))
    lease_over = EventFactory(
        created_at=ago(minutes=1),
        attempts=1,
        next_attempt_at=ago(seconds=2),
        requeue_at=ago(seconds=2),
    )
    retry_due = EventFactory(
        created_at=ago(minutes=5),
        attempts=2,
        next_attempt_at=ago(seconds=3),
        requeue_at=ago(seconds=3),
    )

    batches = events_requeue_stale(now=now, older_than=STALE, limit=1000, batch_size=1000)

    assert batches == [[str(retry_due.id), str(lease_over.id), str(not_queued.id)]]
    assert set(Event.objects.values_list("requeue_at", flat=True)) == {now + STALE}
    assert events_requeue_stale(now=now, older_than=STALE, limit=1000, batch_size=1000) == []


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
