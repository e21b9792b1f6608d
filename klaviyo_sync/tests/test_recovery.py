"""Recovery of a batch cut short: what Klaviyo accepted is recorded request by request, so an
interrupted batch is sent again only for the rest; a claim is held for its lease only, and no
request starts that could not end within it."""

import json
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.db.models import QuerySet
from django.utils import timezone

from events.models import Event, SyncStatus
from events.tests.factories import EventFactory
from klaviyo_sync import lease
from klaviyo_sync.services import events_sync
from klaviyo_sync.tests.conftest import BASE

pytestmark = pytest.mark.django_db

EVENTS_URL = f"{BASE}/events"
BULK_URL = f"{BASE}/event-bulk-create-jobs"


class WorkerKilled(BaseException):
    """Stands for a SIGKILL: nothing after it runs in the worker (not even `except Exception`)."""


def bulk_unique_ids(request) -> list[str]:
    body = json.loads(request.body)
    return [
        event["attributes"]["unique_id"]
        for group in body["data"]["attributes"]["events-bulk-create"]["data"]
        for event in group["attributes"]["events"]["data"]
    ]


def statuses(events) -> set[str]:
    return set(
        Event.objects.filter(id__in=[e.id for e in events]).values_list("sync_status", flat=True)
    )


def test_a_claim_holds_the_rows_for_the_lease_and_makes_them_due_when_it_ends(klaviyo, settings):
    settings.KLAVIYO_SEND_LEASE_SECONDS = 49
    event = EventFactory()
    before = timezone.now()

    def killed(request):
        raise WorkerKilled

    klaviyo.add_callback("POST", EVENTS_URL, callback=killed)
    with pytest.raises(WorkerKilled):
        events_sync(event_ids=[event.id])

    event.refresh_from_db()
    assert event.sync_status == SyncStatus.PENDING and event.attempts == 1
    assert event.requeue_at == event.next_attempt_at
    assert (
        before + timedelta(seconds=49) <= event.requeue_at <= timezone.now() + timedelta(seconds=49)
    )


def test_a_bulk_batch_killed_after_its_first_request_keeps_that_request_sent(klaviyo, settings):
    settings.KLAVIYO_BULK_MAX_BYTES = 10_000  # several bodies for these events
    settings.KLAVIYO_BULK_MIN_EVENTS = 2  # and what is left goes in bulk too
    events = [
        EventFactory(event_attributes={"note": "x" * 300}, unique_id=f"u{n}") for n in range(30)
    ]
    sent_first: list[str] = []

    def accept_then_die(request):
        if sent_first:
            raise WorkerKilled
        sent_first.extend(bulk_unique_ids(request))
        return (202, {}, "")

    klaviyo.add_callback("POST", BULK_URL, callback=accept_then_die)
    with pytest.raises(WorkerKilled):
        events_sync(event_ids=[e.id for e in events])

    assert 0 < len(sent_first) < 30
    sent = Event.objects.filter(sync_status=SyncStatus.SENT)
    assert set(sent.values_list("unique_id", flat=True)) == set(sent_first)
    assert all(e.synced_at and e.requeue_at is None for e in sent)
    # The rest stays claimed; once the lease ends, only it goes again.
    Event.objects.filter(sync_status=SyncStatus.PENDING).update(next_attempt_at=timezone.now())
    klaviyo.replace("POST", BULK_URL, status=202)
    events_sync(event_ids=[e.id for e in events])
    assert statuses(events) == {SyncStatus.SENT}
    assert sorted(bulk_unique_ids(klaviyo.calls[-1].request)) == sorted(
        {f"u{n}" for n in range(30)} - set(sent_first)
    )


def test_each_event_of_a_small_batch_is_recorded_before_the_next_is_sent(klaviyo):
    events = [EventFactory(unique_id=f"s{n}") for n in range(3)]
    seen_sent: list[int] = []

    def accept(request):
        seen_sent.append(Event.objects.filter(sync_status=SyncStatus.SENT).count())
        return (202, {}, "")

    klaviyo.add_callback("POST", EVENTS_URL, callback=accept)
    outcome = events_sync(event_ids=[e.id for e in events])

    assert seen_sent == [0, 1, 2]
    assert outcome.sent == 3
    assert statuses(events) == {SyncStatus.SENT}


def test_a_batch_out_of_lease_time_gives_the_rest_back_to_be_queued_at_once(
    klaviyo, settings, monkeypatch
):
    events = [EventFactory(unique_id=f"t{n}") for n in range(3)]
    calls = []

    def accept(request):
        calls.append(request)
        # The first answer took the whole lease.
        monkeypatch.setattr(lease.SendClock, "left", lambda self: 0.0)
        return (202, {}, "")

    klaviyo.add_callback("POST", EVENTS_URL, callback=accept)
    outcome = events_sync(event_ids=[e.id for e in events])

    assert len(calls) == 1 and outcome.sent == 1
    [plan] = outcome.retries
    assert plan.countdown == 0 and len(plan.event_ids) == 2
    given_back = Event.objects.filter(id__in=plan.event_ids)
    assert {(e.sync_status, e.attempts) for e in given_back} == {(SyncStatus.PENDING, 0)}


@pytest.mark.django_db(transaction=True)  # a retry on a new connection: no test transaction
def test_recording_what_klaviyo_accepted_goes_on_through_a_lost_connection(klaviyo, monkeypatch):
    event = EventFactory(sync_status=SyncStatus.SENT)  # its commit queues nothing
    Event.objects.filter(pk=event.pk).update(sync_status=SyncStatus.PENDING)
    klaviyo.post(EVENTS_URL, status=202)
    real_update = QuerySet.update
    lost = []

    def lose_the_first_sent_update(self, **changes):
        if changes.get("sync_status") == SyncStatus.SENT and not lost:
            lost.append(changes)
            raise OperationalError(2013, "Lost connection to server during query")
        return real_update(self, **changes)

    monkeypatch.setattr(QuerySet, "update", lose_the_first_sent_update)
    outcome = events_sync(event_ids=[event.id])

    assert lost and outcome.sent == 1
    event.refresh_from_db()
    assert event.sync_status == SyncStatus.SENT and event.attempts == 1
