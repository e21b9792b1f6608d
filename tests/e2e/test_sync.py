"""Events posted to the API reach Klaviyo (the emulator) exactly once each, with the right
fields, through a real Celery worker: also when Klaviyo fails, throttles, or the worker dies."""

import time
from datetime import UTC, datetime, timedelta

import psutil
import pytest

from events.models import Event
from klaviyo_emulator.ratelimit import FixedWindowLimiter
from testkit.procs import wait_until
from testkit.stack import SyncStack, assert_all_sent_exactly_once

pytestmark = pytest.mark.e2e

EVENT_TIME = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=123000)


def bulk_events(prefix: str, count: int, *, profiles: int = 3) -> list[dict]:
    return [
        {
            "eventName": "Viewed Product" if index % 2 else "Placed Order",
            "email": f"{prefix}-{index % profiles}@example.com",
            "eventAttributes": {"sku": f"{prefix}-{index}", "position": index},
            "profileAttributes": {"firstName": f"P{index % profiles}"},
            "time": (EVENT_TIME + timedelta(seconds=index)).isoformat(),
            "value": index + 0.5,
            "uniqueId": f"{prefix}-{index}",
        }
        for index in range(count)
    ]


def post_bulk(api_client, events: list[dict]) -> None:
    response = api_client.post("/events/bulk", {"events": events}, format="json")
    assert response.status_code in (200, 201), response.content


def test_posted_events_reach_klaviyo_once_each_with_their_fields(sync_stack, api_client):
    single = {
        "eventName": "Placed Order",
        "email": "ann@example.com",
        "eventAttributes": {"OrderId": "A-1", "Items": ["book", "pen"], "Total": 12.5},
        "profileAttributes": {
            "firstName": "Ann",
            "lastName": "Lee",
            "phoneNumber": "+15005550006",
            "city": "Oslo",
            "plan": "pro",
        },
        "time": EVENT_TIME.isoformat(),
        "value": 12.5,
        "uniqueId": "order-A-1",
    }
    assert api_client.post("/events", single, format="json").status_code == 201
    no_unique_id = {"eventName": "Signed Up", "email": "bob@example.com"}
    assert api_client.post("/events", no_unique_id, format="json").status_code == 201
    post_bulk(api_client, bulk_events("bulk", 30))

    sync_stack.wait_until_settled()

    stored = assert_all_sent_exactly_once(sync_stack)
    assert len(stored) == 32
    for row in Event.objects.all():
        event = stored[row.klaviyo_unique_id]
        assert event.metric_name == row.event_name
        assert event.properties == row.event_attributes
        assert event.time == row.time.replace(microsecond=0)
        assert event.value == row.value
        assert event.profile_sent["email"] == row.email
    assert Event.objects.filter(attempts=1).count() == 32
    ann = stored["order-A-1"]
    assert ann.time == EVENT_TIME.replace(microsecond=0)  # the event's time, not the send time
    assert ann.profile_sent["first_name"] == "Ann"
    assert ann.profile_sent["last_name"] == "Lee"
    assert ann.profile_sent["phone_number"] == "+15005550006"
    assert ann.profile_sent["location"] == {"city": "Oslo"}
    assert ann.profile_sent["properties"] == {"plan": "pro"}
    requests = sync_stack.emulator.store.requests_by_endpoint
    assert requests["POST /api/event-bulk-create-jobs/"] == 1  # one task per bulk batch
    assert requests["POST /api/events/"] == 2


def test_events_arrive_once_when_klaviyo_fails_the_first_attempts(sync_stack, api_client):
    sync_stack.emulator.faults.configure({"status": 503, "count": 2})
    single = {"eventName": "Placed Order", "email": "c@example.com", "uniqueId": "c-1"}
    api_client.post("/events", single, format="json")
    post_bulk(api_client, bulk_events("retry", 30))

    sync_stack.wait_until_settled()

    assert_all_sent_exactly_once(sync_stack)
    assert sync_stack.emulator.store.faults_served == 2
    assert Event.objects.filter(attempts__gte=2).exists()
    assert sync_stack.emulator.store.responses_by_status[503] == 2


def test_events_arrive_once_when_klaviyo_answers_429_with_retry_after(sync_stack, api_client):
    sync_stack.emulator.faults.configure({"status": 429, "count": 2, "retry_after": 1})
    post_bulk(api_client, bulk_events("throttled", 30))

    sync_stack.wait_until_settled()

    assert_all_sent_exactly_once(sync_stack)
    assert sync_stack.emulator.store.responses_by_status[429] == 2


class ManualClock:
    """The emulator's rate-limit clock, moved on by the test only."""

    def __init__(self) -> None:
        self.now = float(int(time.time())) + 0.5

    def __call__(self) -> float:
        return self.now


def test_events_arrive_once_when_klaviyo_enforces_its_rate_limit(sync_stack, api_client):
    # Bulk jobs scaled to 1 a second (the worker's own limiter allows 10), on a clock that
    # stands still: the second batch gets 429 + Retry-After until the test moves the clock on.
    clock = ManualClock()
    sync_stack.emulator.app.limiter = FixedWindowLimiter(scale=0.1, clock=clock)
    store = sync_stack.emulator.store
    post_bulk(api_client, bulk_events("first", 30))
    post_bulk(api_client, bulk_events("second", 30))
    wait_until(lambda: store.rate_limited >= 1, timeout=20, what="a 429 from the emulator")

    clock.now += 1
    sync_stack.wait_until_settled()

    assert_all_sent_exactly_once(sync_stack)
    assert store.responses_by_status[202] == 2
    assert store.responses_by_status[429] == store.rate_limited >= 1


# A worker killed mid-batch with the production lease: tests/drills/test_worker_killed.py. Here
# the lease is cut short through what it derives from (the limiter's wait, the timeouts).
SHORT_LEASE = {
    "KLAVIYO_RATE_LIMIT_MAX_WAIT": "0.5",
    "KLAVIYO_CONNECT_TIMEOUT": "0.5",
    "KLAVIYO_READ_TIMEOUT": "12",
}


def test_a_killed_pool_process_is_replaced_and_its_batch_sent_once(
    transactional_db, broker, celery_producer, emulator, api_client
):
    stack = SyncStack.start(broker=broker, emulator=emulator, **SHORT_LEASE)
    stack.start_beat()
    try:
        stack.emulator.faults.configure({"latency_ms": 10_000})
        post_bulk(api_client, bulk_events("child", 30))
        wait_until(
            lambda: stack.emulator.store.events_received == 30,
            timeout=20,
            what="the batch reaches Klaviyo",
        )

        [child] = psutil.Process(stack.worker.pid).children()
        # SIGKILL: the main process requeues the task (reject on worker lost), which finds the
        # rows still claimed; the sweeper queues them again once the lease ends.
        child.kill()
        stack.emulator.faults.clear()
        stack.wait_until_settled(timeout=60)

        assert_all_sent_exactly_once(stack, received=2)
        assert stack.worker.alive()
    finally:
        stack.stop_worker()
