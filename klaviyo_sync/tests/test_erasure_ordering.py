"""The erasure's ordering guarantee, against the Klaviyo emulator: what a worker had already
claimed and read of the person when the erasure came (an event, a profile change, a list
change) reaches Klaviyo before the deletion job, never after it. Deleting the rows does not
stop that worker: it holds their payload. The erasure waits for its lease
(events/erasure_services.py), and the worker starts no request its lease can't cover."""

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from django.db import connection
from django.utils import timezone

from events.consent_services import consent_change_create
from events.erasure_services import profile_erase
from events.models import ConsentChange, ProfileChange, ProfileImportJob
from events.tests.factories import EventFactory, ProfileFactory
from klaviyo_client import operations as ops
from klaviyo_client.client import KlaviyoClient
from klaviyo_emulator.server import Emulator
from klaviyo_sync import receivers
from klaviyo_sync.consent_sync import consent_change_sync
from klaviyo_sync.erasure_sync import erasure_send
from klaviyo_sync.profile_changes import profile_changes_sync
from klaviyo_sync.services import events_sync
from klaviyo_sync.tests.conftest import klaviyo_is

pytestmark = pytest.mark.django_db(transaction=True)
BLOCK_SECONDS = 30.0


@pytest.fixture
def klaviyo(emulator: Emulator, settings, monkeypatch) -> Emulator:
    klaviyo_is(emulator, settings)
    # Short leases, so that the erasure's wait for them is short: room for one request each.
    settings.KLAVIYO_CONNECT_TIMEOUT = 1.0
    settings.KLAVIYO_READ_TIMEOUT = 3.0
    settings.KLAVIYO_SEND_LEASE_SECONDS = 12
    settings.SYNC_STALE_PENDING_SECONDS = 8
    # The workers are the test's own threads: nothing is queued (tasks run eagerly in unit
    # tests, in the thread that saves).
    monkeypatch.setattr(receivers, "queue_erasure_send", lambda erasure_id: True)
    monkeypatch.setattr(receivers.events_to_sync, "add", lambda *args, **kwargs: None)
    monkeypatch.setattr(receivers.profiles_to_sync, "add", lambda *args, **kwargs: None)
    return emulator


@pytest.fixture
def blocked_send(monkeypatch) -> Iterator[tuple[threading.Event, threading.Event]]:
    """Requests of these operations wait, in the worker, until `release` is set: a worker that
    claimed and read its rows, stuck before its request. `reached` is set when one waits."""
    reached, release = threading.Event(), threading.Event()
    real_call = KlaviyoClient._call
    blocked = {ops.CREATE_EVENT.name, ops.BULK_CREATE_EVENTS.name, ops.PROFILE_IMPORT.name}

    def call(self, operation, **kwargs):
        if operation.name in blocked:
            reached.set()
            release.wait(BLOCK_SECONDS)
        return real_call(self, operation, **kwargs)

    monkeypatch.setattr(KlaviyoClient, "_call", call)
    yield reached, release
    release.set()


def in_thread(work: Callable[[], object]) -> threading.Thread:
    def run() -> None:
        try:
            work()
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def erasure_worker(erasure_id: object, *, first_look: threading.Event) -> str:
    """What the send_erasure task and its re-queueing do, in a loop."""
    while True:
        outcome = erasure_send(erasure_id=erasure_id)
        first_look.set()
        if outcome.retry_in is None:
            return outcome.status
        time.sleep(outcome.retry_in)


def erase_while_blocked(
    klaviyo: Emulator, blocked_send, worker: Callable[[], object]
) -> tuple[str, float]:
    """Starts the worker, erases ann once it is stuck in its request, lets it go once the
    erasure's sender has had a first look, and runs the sender to its end."""
    reached, release = blocked_send
    sending = in_thread(worker)
    assert reached.wait(10), "the worker never reached its request"
    erasure = profile_erase(kind="email", value="ann@example.com")
    first_look = threading.Event()
    outcome: list[str] = []
    started = time.monotonic()
    sender = in_thread(lambda: outcome.append(erasure_worker(erasure.id, first_look=first_look)))
    assert first_look.wait(10)
    release.set()  # the worker's request goes now: after the erasure, before the deletion job
    sending.join(20)
    sender.join(40)
    return outcome[0], time.monotonic() - started


def test_an_event_a_worker_holds_reaches_klaviyo_before_the_deletion_job(klaviyo, blocked_send):
    ann = ProfileFactory(email="ann@example.com")
    event = EventFactory(profile=ann, unique_id="order-1")

    status, waited = erase_while_blocked(
        klaviyo, blocked_send, lambda: events_sync(event_ids=[str(event.id)])
    )

    assert status == "sent"
    [job] = klaviyo.app.store.deletion_jobs
    assert job.identifier == {"email": "ann@example.com"}
    # The event came first (one received before the job) and went with the profile.
    assert (job.events_received_before, job.events_deleted) == (1, 1)
    assert klaviyo.app.store.events == [] and klaviyo.app.store.profiles == {}
    assert waited > 5  # it waited for the worker's lease


def test_a_profile_change_a_worker_holds_reaches_klaviyo_before_the_deletion_job(
    klaviyo, blocked_send
):
    ann = ProfileFactory(email="ann@example.com")
    ProfileChange.objects.create(profile=ann, attributes={"firstName": "Ann"})

    status, _ = erase_while_blocked(
        klaviyo, blocked_send, lambda: profile_changes_sync(profile_id=ann.id)
    )

    assert status == "sent"
    [job] = klaviyo.app.store.deletion_jobs
    assert len(job.profiles_deleted) == 1  # the profile-import came first: it was there
    assert klaviyo.app.store.profiles == {}


def test_a_list_add_a_worker_holds_stops_at_its_lease_and_never_recreates_the_person(
    klaviyo, settings, monkeypatch
):
    """A list_add of 500 new addresses, ann's among them: the worker looks them up 100 a
    request, each answer slow (2.8 s, within the read timeout), before the import job that
    makes them (at 14 s). It may start no request that would not end within its lease (10 s,
    less the claim tolerance): it stops after one lookup and gives the rest back; the erasure's
    deletion job goes at the lease's end, and the next claim sends the 499 others, not ann
    (the erasure dropped her address)."""
    settings.KLAVIYO_SEND_LEASE_SECONDS = 10  # 1 s to start requests of up to 4 s
    settings.KLAVIYO_RATE_LIMIT_MAX_WAIT = 0.0
    monkeypatch.setattr(receivers.consent_changes_to_sync, "add", lambda *args, **kwargs: None)
    store = klaviyo.app.store
    with store.lock:
        store.lists.create(name="Newsletter", at=timezone.now(), list_id="Y6nRLr")
    ProfileFactory(email="ann@example.com")
    emails = [f"p{n}@example.com" for n in range(499)] + ["ann@example.com"]
    change = consent_change_create(
        kind="list_add", addresses=[{"email": email} for email in emails], list_id="Y6nRLr"
    )
    order: list[str] = []
    slow = threading.Event()
    slow.set()
    real_call = KlaviyoClient._call

    def call(self, operation, **kwargs):
        answer = real_call(self, operation, **kwargs)  # the lease is checked first, in there
        order.append(operation.name)
        if operation == ops.GET_PROFILES and slow.is_set():
            time.sleep(2.8)  # a slow answer
        return answer

    monkeypatch.setattr(KlaviyoClient, "_call", call)
    outcome: list[object] = []
    worker = in_thread(lambda: outcome.append(consent_change_sync(change_id=change.id)))
    deadline = time.monotonic() + 10
    while not order and time.monotonic() < deadline:  # the worker is in its first lookup
        time.sleep(0.05)
    erasure = profile_erase(kind="email", value="ann@example.com")
    assert erasure.hold_until is not None  # the worker's claim
    assert erasure_worker(erasure.id, first_look=threading.Event()) == "sent"
    worker.join(20)

    # Klaviyo holds no ann: no import job made her again after the deletion job.
    assert store.profiles_named({"email": "ann@example.com"}) == [], order
    assert outcome[0].status == "retrying" and outcome[0].retry_in == 0.0
    deletion = order.index(ops.REQUEST_PROFILE_DELETION.name)
    assert order[:deletion] == [ops.GET_PROFILES.name]  # nothing after the lease
    slow.clear()
    assert consent_change_sync(change_id=change.id).status == "sent"  # claimed again at once

    change.refresh_from_db()
    assert (change.status, change.attempts) == ("sent", 2)  # the first stopped short
    assert store.profiles_named({"email": "ann@example.com"}) == []
    assert not ProfileImportJob.objects.exists()  # the job listed while it ran, then ended
    with store.lock:
        members = store.lists.lists["Y6nRLr"].members
        assert len(members) == 499 and len(store.profiles) == 499
    assert not ConsentChange.objects.filter(profiles__email="ann@example.com").exists()
