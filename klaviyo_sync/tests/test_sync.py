"""The pipeline: a saved event queues a task after commit, the task sends it to Klaviyo and the
row says what happened; retries, partial bulk failures, idempotence."""

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.db import OperationalError as DatabaseOperationalError
from django.db import connection
from django.utils import timezone
from kombu.exceptions import OperationalError

from events.models import Event, Profile, SyncStatus
from events.serializers import EventOutputSerializer
from events.tests.factories import EventFactory, ProfileFactory
from klaviyo_client.ratelimit import parse_limits
from klaviyo_sync import tasks
from klaviyo_sync.services import retry_delay
from klaviyo_sync.tests.conftest import BASE

pytestmark = pytest.mark.django_db

EVENTS_URL = f"{BASE}/events"
BULK_URL = f"{BASE}/event-bulk-create-jobs"
PURCHASE = {
    "eventName": "Purchase",
    "email": "john.doe@example.com",
    "eventAttributes": {"amount": 99.99},
    "profileAttributes": {"firstName": "John", "city": "Paris", "plan": "pro"},
    "time": "2025-09-15T10:00:00Z",
    "value": 99.99,
}


@pytest.fixture
def post(api_client, django_capture_on_commit_callbacks):
    def post(path: str, body: dict) -> dict:
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client.post(path, body, format="json")
        assert response.status_code in (200, 201), response.json()
        return response.json()

    return post


def klaviyo_error(status: int, detail: str, pointer: str | None = None) -> dict:
    error = {"id": "e", "status": status, "code": "invalid", "title": "Invalid input."}
    error["detail"] = detail
    if pointer:
        error["source"] = {"pointer": pointer}
    return {"errors": [error]}


def body_of(call) -> dict:
    return json.loads(call.request.body)


def test_a_new_event_is_sent_once_with_its_own_time_and_unique_id(klaviyo, post, sync_tasks):
    klaviyo.post(EVENTS_URL, status=202)

    created = post("/events", {**PURCHASE, "uniqueId": "order-1"})

    event = Event.objects.get(pk=created["id"])
    assert event.sync_status == SyncStatus.SENT
    assert event.klaviyo_response == "Successfully sent to Klaviyo"
    assert event.attempts == 1
    assert event.last_error == ""
    assert event.synced_at is not None and event.next_attempt_at is None
    assert len(klaviyo.calls) == 1
    assert len(sync_tasks) == 1
    attributes = body_of(klaviyo.calls[0])["data"]["attributes"]
    assert attributes["time"] == "2025-09-15T10:00:00+00:00"
    assert attributes["unique_id"] == "order-1"
    assert attributes["value"] == 99.99
    assert attributes["properties"] == {"amount": 99.99}
    assert attributes["metric"]["data"]["attributes"]["name"] == "Purchase"
    assert attributes["profile"]["data"]["attributes"] == {
        "email": "john.doe@example.com",
        "first_name": "John",
        "location": {"city": "Paris"},
        "properties": {"plan": "pro"},
    }
    profile = event.profile
    assert profile.sync_status == SyncStatus.SENT and profile.synced_at is not None


@contextmanager
def deadlock_once(statement_start: str) -> Iterator[list[str]]:
    """The first statement starting so ends as InnoDB's deadlock victim; yields every such
    statement tried."""
    tried: list[str] = []

    def execute(run, sql, params, many, context):
        if sql.startswith(statement_start):
            tried.append(sql)
            if len(tried) == 1:
                raise DatabaseOperationalError(1213, "Deadlock found when trying to get lock")
        return run(sql, params, many, context)

    with connection.execute_wrapper(execute):
        yield tried


@pytest.mark.django_db(transaction=True)
def test_a_deadlock_while_marking_profiles_sent_is_run_again(klaviyo, post, caplog):
    # InnoDB's answer when an ingest holds the profile rows in the other order (bench/load.py).
    klaviyo.post(EVENTS_URL, status=202)

    with deadlock_once(f"UPDATE {connection.ops.quote_name(Profile._meta.db_table)}") as tried:
        created = post("/events", PURCHASE)

    event = Event.objects.get(pk=created["id"])
    assert event.sync_status == SyncStatus.SENT and len(klaviyo.calls) == 1
    assert event.profile.sync_status == SyncStatus.SENT
    assert len(tried) == 2
    assert "sync status update chosen as a deadlock victim" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_deadlock_while_marking_events_sent_is_run_again(klaviyo, post):
    # A claim walking the status index can hold rows another task is marking (bench/load.py);
    # without a second run the event stays pending under its lease after reaching Klaviyo.
    klaviyo.post(EVENTS_URL, status=202)
    quote = connection.ops.quote_name

    with deadlock_once(f"UPDATE {quote(Event._meta.db_table)} SET {quote('sync_status')}") as tried:
        created = post("/events", PURCHASE)

    event = Event.objects.get(pk=created["id"])
    assert (event.sync_status, event.attempts, len(klaviyo.calls)) == (SyncStatus.SENT, 1, 1)
    assert event.next_attempt_at is None and event.synced_at is not None
    assert len(tried) == 2


def test_sent_to_klaviyo_follows_the_status(klaviyo, post):
    klaviyo.post(EVENTS_URL, status=202)

    created = post("/events", PURCHASE)

    shown = EventOutputSerializer(Event.objects.get(pk=created["id"])).data
    assert (shown["sentToKlaviyo"], shown["syncStatus"]) == (True, "sent")
    assert shown["klaviyoResponse"] == "Successfully sent to Klaviyo"


def test_a_bulk_ingest_queues_one_task_and_one_bulk_request(klaviyo, post, sync_tasks):
    klaviyo.post(BULK_URL, status=202)
    events = [{"eventName": "View", "email": f"user{i % 7}@example.com"} for i in range(40)]

    post("/events/bulk", {"events": events})

    assert len(sync_tasks) == 1 and len(sync_tasks[0]) == 40
    assert len(klaviyo.calls) == 1
    groups = body_of(klaviyo.calls[0])["data"]["attributes"]["events-bulk-create"]["data"]
    assert len(groups) == 7
    assert sum(len(g["attributes"]["events"]["data"]) for g in groups) == 40
    assert Event.objects.filter(sync_status=SyncStatus.SENT).count() == 40
    assert Profile.objects.filter(sync_status=SyncStatus.SENT).count() == 7


def test_a_bulk_ingest_larger_than_a_klaviyo_batch_queues_one_task_per_batch(
    klaviyo, post, sync_tasks, settings
):
    settings.KLAVIYO_BULK_BATCH_SIZE = 30
    klaviyo.post(BULK_URL, status=202)
    klaviyo.post(EVENTS_URL, status=202)
    events = [{"eventName": "View", "email": f"user{i}@example.com"} for i in range(70)]

    post("/events/bulk", {"events": events})

    assert [len(ids) for ids in sync_tasks] == [30, 30, 10]
    # The last batch is under KLAVIYO_BULK_MIN_EVENTS: no bulk job, one POST per event.
    assert [c.request.url for c in klaviyo.calls] == [BULK_URL] * 2 + [EVENTS_URL] * 10
    assert Event.objects.filter(sync_status=SyncStatus.SENT).count() == 70


def test_a_small_batch_goes_one_event_per_request(klaviyo, post, sync_tasks):
    klaviyo.post(EVENTS_URL, status=202)
    events = [{"eventName": "View", "email": f"user{i}@example.com"} for i in range(3)]

    post("/events/bulk", {"events": events})

    assert len(sync_tasks) == 1
    assert [c.request.url for c in klaviyo.calls] == [EVENTS_URL] * 3
    assert Event.objects.filter(sync_status=SyncStatus.SENT).count() == 3


def test_without_a_klaviyo_key_events_are_skipped(settings, post):
    settings.KLAVIYO_API_KEY = ""

    created = post("/events", PURCHASE)

    event = Event.objects.get(pk=created["id"])
    assert event.sync_status == SyncStatus.SKIPPED
    assert event.last_error == "Not sent: KLAVIYO_API_KEY is not configured"
    assert event.profile.sync_status == SyncStatus.SKIPPED


def test_a_400_fails_at_once_with_klaviyos_detail(klaviyo, post):
    klaviyo.post(EVENTS_URL, status=400, json=klaviyo_error(400, "Metric name is invalid."))

    created = post("/events", PURCHASE)

    event = Event.objects.get(pk=created["id"])
    assert event.sync_status == SyncStatus.FAILED
    assert event.last_error == "HTTP 400: Invalid input. Metric name is invalid."
    assert event.klaviyo_response == "HTTP 400: Invalid input. Metric name is invalid."
    assert event.attempts == 1
    assert len(klaviyo.calls) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_an_auth_error_fails_at_once_and_logs_a_configuration_error(klaviyo, post, caplog, status):
    klaviyo.post(EVENTS_URL, status=status, json=klaviyo_error(status, "Bad key."))
    caplog.set_level(logging.ERROR, logger="klaviyo_client.client")

    created = post("/events", PURCHASE)

    event = Event.objects.get(pk=created["id"])
    assert event.sync_status == SyncStatus.FAILED
    assert event.last_error.startswith(f"HTTP {status}: ")
    assert len(klaviyo.calls) == 1
    assert any("KLAVIYO_API_KEY" in record.getMessage() for record in caplog.records)
    assert "pk_test_0123456789" not in caplog.text


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 503, "json": klaviyo_error(503, "Down")},
        {"status": 500, "body": "oops"},
        {"status": 429, "headers": {"Retry-After": "0"}, "body": ""},
        {"body": requests.ConnectTimeout("slow")},
        {"body": requests.ConnectionError("refused")},
        # The request went out and the answer broke off: Klaviyo may not have the event.
        {"body": requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead")},
    ],
    ids=["503", "500", "429", "timeout", "connection-error", "answer-broken-off"],
)
def test_a_retryable_failure_is_retried_until_it_succeeds(klaviyo, post, sync_tasks, failure):
    klaviyo.post(EVENTS_URL, **failure)
    klaviyo.post(EVENTS_URL, status=202)

    created = post("/events", PURCHASE)

    event = Event.objects.get(pk=created["id"])
    assert event.sync_status == SyncStatus.SENT
    assert event.attempts == 2
    assert event.last_error == ""
    assert len(klaviyo.calls) == 2
    assert len(sync_tasks) == 2  # the retry is a task of its own


def test_it_gives_up_after_the_configured_attempts(klaviyo, post):
    klaviyo.post(EVENTS_URL, status=503, json=klaviyo_error(503, "Down"))

    created = post("/events", PURCHASE)

    event = Event.objects.get(pk=created["id"])
    assert event.sync_status == SyncStatus.FAILED
    assert event.attempts == 3
    assert event.last_error == "HTTP 503: Invalid input. Down (gave up after 3 attempts)"
    assert len(klaviyo.calls) == 3


def test_a_retry_waits_at_least_retry_after(klaviyo, post, settings):
    settings.KLAVIYO_RETRY_BASE_DELAY = 1.0
    klaviyo.post(EVENTS_URL, status=429, headers={"Retry-After": "30"}, body="")
    before = timezone.now()

    created = post("/events", PURCHASE)

    event = Event.objects.get(pk=created["id"])
    # Still pending: the retry task (run at once in eager mode) found it not yet due.
    assert event.sync_status == SyncStatus.PENDING
    assert event.attempts == 1
    assert event.last_error == "HTTP 429: Too Many Requests"
    assert event.next_attempt_at >= before + timedelta(seconds=30)
    assert len(klaviyo.calls) == 1


def test_retry_delays_grow_exponentially_and_stay_under_the_maximum(settings):
    settings.KLAVIYO_RETRY_BASE_DELAY = 5
    settings.KLAVIYO_RETRY_MAX_DELAY = 2400
    settings.KLAVIYO_RETRY_JITTER = 0.0

    delays = [retry_delay(attempt=n) for n in range(1, 13)]

    assert delays == [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2400, 2400, 2400]
    assert 2.5 * 3600 < sum(delays) < 3.5 * 3600  # 13 attempts over about three hours
    assert retry_delay(attempt=1, retry_after=900) == 900
    settings.KLAVIYO_RETRY_JITTER = 0.2
    assert all(4 <= retry_delay(attempt=1) <= 6 for _ in range(50))
    assert all(1920 <= retry_delay(attempt=12) <= 2400 for _ in range(50))  # capped after it


def test_a_retry_that_cannot_be_queued_leaves_the_event_pending_for_the_sweeper(
    klaviyo, post, monkeypatch, settings
):
    settings.KLAVIYO_RETRY_BASE_DELAY = 5.0
    klaviyo.post(EVENTS_URL, status=503, json=klaviyo_error(503, "Down"))
    real_apply_async = tasks.sync_events.apply_async

    def broker_down_for_retries(*args, **kwargs):
        if kwargs.get("countdown") is not None:
            raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        return real_apply_async(*args, **kwargs)

    monkeypatch.setattr(tasks.sync_events, "apply_async", broker_down_for_retries)

    created = post("/events", PURCHASE)

    event = Event.objects.get(pk=created["id"])
    assert event.sync_status == SyncStatus.PENDING
    assert event.attempts == 1
    assert event.next_attempt_at > timezone.now()
    # Due for the sweeper when the retry is, not SYNC_STALE_PENDING_SECONDS later.
    assert event.requeue_at == event.next_attempt_at


def test_a_save_while_the_broker_is_down_still_stores_the_event(post, klaviyo, monkeypatch):
    def broker_down(*args, **kwargs):
        raise OperationalError("Connection refused.")

    monkeypatch.setattr(tasks.sync_events, "apply_async", broker_down)

    created = post("/events", PURCHASE)

    event = Event.objects.get(pk=created["id"])
    assert event.sync_status == SyncStatus.PENDING
    assert event.attempts == 0
    assert len(klaviyo.calls) == 0
    # Due for the sweeper at once: no task is waiting for it.
    assert event.requeue_at is not None and event.requeue_at <= timezone.now()


def test_a_bulk_answer_rejecting_some_items_fails_only_those(klaviyo, post):
    pointer = "/data/attributes/events-bulk-create/data/{}/attributes/events/data/0/attributes/time"
    first_body: dict = {}

    def reject_first_group(request):
        if not first_body:
            first_body.update(json.loads(request.body))
            error = klaviyo_error(400, "Bad time.", pointer.format(0))
            return 400, {}, json.dumps(error)
        return 202, {}, ""

    klaviyo.add_callback("POST", BULK_URL, callback=reject_first_group)
    events = [{"eventName": "View", "email": f"user{i}@example.com"} for i in range(30)]

    post("/events/bulk", {"events": events})

    groups = first_body["data"]["attributes"]["events-bulk-create"]["data"]
    rejected_email = groups[0]["attributes"]["profile"]["data"]["attributes"]["email"]
    failed = Event.objects.get(sync_status=SyncStatus.FAILED)
    assert failed.email == rejected_email
    assert failed.last_error == f"HTTP 400: Invalid input. Bad time. ({pointer.format(0)})"
    assert Event.objects.filter(sync_status=SyncStatus.SENT).count() == 29
    resent = body_of(klaviyo.calls[1])["data"]["attributes"]["events-bulk-create"]["data"]
    assert len(resent) == 29
    assert rejected_email not in json.dumps(resent)


def test_a_bulk_rejection_naming_no_item_is_resolved_one_event_at_a_time(klaviyo, post):
    klaviyo.post(BULK_URL, status=400, json=klaviyo_error(400, "Something in there is wrong."))

    def reject_one_email(request):
        profile = json.loads(request.body)["data"]["attributes"]["profile"]["data"]
        if profile["attributes"]["email"] == "user3@example.com":
            return 400, {}, json.dumps(klaviyo_error(400, "Email rejected."))
        return 202, {}, ""

    klaviyo.add_callback("POST", EVENTS_URL, callback=reject_one_email)
    events = [{"eventName": "View", "email": f"user{i}@example.com"} for i in range(25)]

    post("/events/bulk", {"events": events})

    failed = Event.objects.get(sync_status=SyncStatus.FAILED)
    assert failed.email == "user3@example.com"
    assert failed.last_error == "HTTP 400: Invalid input. Email rejected."
    assert Event.objects.filter(sync_status=SyncStatus.SENT).count() == 24


def test_a_bulk_failure_klaviyo_may_recover_from_retries_the_whole_batch(klaviyo, post):
    klaviyo.post(BULK_URL, status=502, body="bad gateway")
    klaviyo.post(BULK_URL, status=202)
    events = [{"eventName": "View", "email": f"user{i}@example.com"} for i in range(25)]

    post("/events/bulk", {"events": events})

    assert Event.objects.filter(sync_status=SyncStatus.SENT, attempts=2).count() == 25
    assert len(klaviyo.calls) == 2


def test_an_event_klaviyo_would_reject_fails_without_a_call(klaviyo):
    event = EventFactory(event_name="x" * 200)

    tasks.sync_events.delay([str(event.id)])

    event.refresh_from_db()
    assert event.sync_status == SyncStatus.FAILED
    assert event.last_error == "Not sent: eventName must be 1 to 127 characters for Klaviyo"
    assert event.klaviyo_response is None
    assert len(klaviyo.calls) == 0


def test_a_profile_klaviyo_would_reject_fails_its_events_and_itself(klaviyo):
    bad = {"firstName": ["not", "a", "string"]}
    profile = ProfileFactory(attributes=bad)
    event = EventFactory(profile=profile, profile_attributes=bad)

    tasks.sync_events.delay([str(event.id)])

    event.refresh_from_db()
    profile.refresh_from_db()
    assert event.sync_status == SyncStatus.FAILED
    assert event.last_error == ("Not sent: profileAttributes.firstName must be a string, not list")
    assert profile.sync_status == SyncStatus.FAILED
    assert profile.last_error == event.last_error


def test_a_sent_event_is_never_sent_again(klaviyo):
    klaviyo.post(EVENTS_URL, status=202)
    event = EventFactory()

    tasks.sync_events.delay([str(event.id)])
    tasks.sync_events.delay([str(event.id)])

    event.refresh_from_db()
    assert event.sync_status == SyncStatus.SENT
    assert event.attempts == 1
    assert len(klaviyo.calls) == 1


def test_an_event_held_by_another_worker_is_left_to_it(klaviyo):
    klaviyo.post(EVENTS_URL, status=202)
    event = EventFactory(attempts=1, next_attempt_at=timezone.now() + timedelta(minutes=5))

    tasks.sync_events.delay([str(event.id)])

    event.refresh_from_db()
    assert event.sync_status == SyncStatus.PENDING
    assert event.attempts == 1
    assert len(klaviyo.calls) == 0


def test_a_crashed_workers_hold_expires(klaviyo):
    klaviyo.post(EVENTS_URL, status=202)
    event = EventFactory(attempts=1, next_attempt_at=timezone.now() - timedelta(seconds=1))

    tasks.sync_events.delay([str(event.id)])

    event.refresh_from_db()
    assert event.sync_status == SyncStatus.SENT
    assert event.attempts == 2


def test_a_profile_changed_after_it_was_read_stays_pending(klaviyo):
    klaviyo.post(EVENTS_URL, status=202)
    profile = ProfileFactory(updated_at=timezone.now() + timedelta(minutes=1))
    event = EventFactory(profile=profile)

    tasks.sync_events.delay([str(event.id)])

    event.refresh_from_db()
    profile.refresh_from_db()
    assert event.sync_status == SyncStatus.SENT
    assert profile.sync_status == SyncStatus.PENDING


def test_the_rate_limiter_holding_a_batch_back_re_queues_it_without_counting_an_attempt(
    klaviyo, settings
):
    settings.KLAVIYO_RATE_LIMIT_ENABLED = True
    settings.KLAVIYO_RATE_LIMIT_REDIS_URL = ""
    settings.KLAVIYO_RATE_LIMIT_MAX_WAIT = 0.0
    settings.KLAVIYO_RATE_LIMITS = {**settings.KLAVIYO_RATE_LIMITS, "events": parse_limits("1/h")}
    klaviyo.post(EVENTS_URL, status=202)
    first, second = EventFactory(), EventFactory()

    tasks.sync_events.delay([str(first.id)])
    tasks.sync_events.delay([str(second.id)])

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.sync_status == SyncStatus.SENT
    assert second.sync_status == SyncStatus.PENDING
    assert second.attempts == 0
    assert second.next_attempt_at > timezone.now() + timedelta(minutes=50)
    assert len(klaviyo.calls) == 1


def test_events_with_old_times_are_sent_with_that_time(klaviyo):
    klaviyo.post(EVENTS_URL, status=202)
    event = EventFactory(time=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC))

    tasks.sync_events.delay([str(event.id)])

    assert body_of(klaviyo.calls[0])["data"]["attributes"]["time"] == "2024-01-02T03:04:05+00:00"


def test_an_unexpected_error_is_retried_and_leaves_no_event_held(klaviyo, caplog):
    klaviyo.post(EVENTS_URL, body=RuntimeError("a bug somewhere below"))
    klaviyo.post(EVENTS_URL, status=202)
    event = EventFactory()

    tasks.sync_events.delay([str(event.id)])

    event.refresh_from_db()
    assert event.sync_status == SyncStatus.SENT
    assert event.attempts == 2
    assert "failed unexpectedly" in caplog.text


def test_a_profile_already_sent_in_its_current_state_keeps_its_synced_at(klaviyo):
    klaviyo.post(EVENTS_URL, status=202)
    synced_at = timezone.now() - timedelta(minutes=5)
    profile = ProfileFactory(
        sync_status=SyncStatus.SENT,
        updated_at=synced_at - timedelta(minutes=1),
        synced_at=synced_at,
    )
    changed = ProfileFactory(
        sync_status=SyncStatus.PENDING, updated_at=synced_at, synced_at=synced_at - timedelta(1)
    )
    events = [EventFactory(profile=profile), EventFactory(profile=changed)]

    tasks.sync_events.delay([str(e.id) for e in events])

    profile.refresh_from_db()
    changed.refresh_from_db()
    assert profile.synced_at == synced_at
    assert changed.sync_status == SyncStatus.SENT and changed.synced_at > synced_at


def test_without_a_klaviyo_key_the_answer_says_skipped_and_nothing_is_queued(
    settings, post, sync_tasks
):
    settings.KLAVIYO_API_KEY = ""

    created = post("/events", PURCHASE)
    bulk = post("/events/bulk", {"events": [{"eventName": "View", "email": "a@example.com"}]})

    assert created["syncStatus"] == SyncStatus.SKIPPED
    assert [item["syncStatus"] for item in bulk["events"]] == [SyncStatus.SKIPPED]
    assert sync_tasks == []
    stored = Event.objects.get(pk=bulk["events"][0]["id"])
    assert stored.sync_status == SyncStatus.SKIPPED
    assert stored.last_error == "Not sent: KLAVIYO_API_KEY is not configured"
    assert stored.profile.sync_status == SyncStatus.SKIPPED
