"""Drill 4: Redis is down while events are posted. The API still accepts and stores them
(quickly, logging why they were not queued, marking them due); once Redis is back, the next
sweep (beat, every 10 s by default) queues them and the worker sends each once: within seconds
of Redis's return, not after the stale threshold (10 minutes) as before.

Two ways of being down: a private `redis-server` (memory only) that the drill stops and
starts again (connections refused; the API process, this one, and the worker both lose it and
it comes back empty); and a Redis that does not answer at all (a host down, packets dropped),
which used to hold each request for the system's connect timeout, about two minutes."""

import shutil
import time

import pytest
import redis

from events.models import Event, SyncStatus
from klaviyo_sync.broker_loss import MARKER_KEY
from klaviyo_sync.receivers import events_publisher
from testkit.procs import free_port, producer_on, start_redis, unanswered_port
from testkit.stack import assert_all_sent_exactly_once
from tests.drills.payloads import bulk_events, single_event
from tests.services import unavailable

pytestmark = pytest.mark.e2e

# From Redis's return to every event sent: a sweep interval (10 s) and a send, with room for
# beat and the worker to reconnect; the issue asks for two minutes.
RECOVERY_SECONDS = 60
# Far above what a refused connection costs (milliseconds) or an unanswered one (two connect
# attempts of 1 s); it only tells "answered" from "hung on the broker" (minutes).
NO_HANG_SECONDS = 10


@pytest.fixture
def private_redis():
    if not shutil.which("redis-server"):
        unavailable("needs the redis-server program to stop and restart (apt install redis-server)")
    port = free_port()
    servers = [start_redis(port)]

    def restart() -> None:
        servers.append(start_redis(port))

    yield f"redis://127.0.0.1:{port}/0", servers, restart
    for server in servers:
        server.stop()


def test_it_stores_events_while_redis_is_down_and_the_sweeper_sends_them_once_it_is_back(
    start_stack, api_client, private_redis, caplog
):
    url, servers, restart_redis = private_redis
    with producer_on(url):
        stack = start_stack(broker_url=url)
        stack.start_beat()
        servers[-1].stop()  # Redis goes away: the worker, beat and this process lose it

        started = time.monotonic()
        events = bulk_events("no-redis", 100)
        bulk = api_client.post("/events/bulk", {"events": events}, format="json")
        singles = [
            api_client.post("/events", single_event(f"no-redis-single-{n}"), format="json")
            for n in range(3)
        ]
        took = time.monotonic() - started
        # The single events are queued by this process's publisher, within milliseconds.
        events_publisher.flush()

        assert [bulk.status_code, *(r.status_code for r in singles)] == [201] * 4
        assert took < NO_HANG_SECONDS
        assert Event.objects.count() == 103
        assert set(Event.objects.values_list("sync_status", flat=True)) == {SyncStatus.PENDING}
        assert set(Event.objects.values_list("attempts", flat=True)) == {0}
        not_queued = [r for r in caplog.records if "Could not queue the Klaviyo sync" in r.message]
        # The bulk request's task (its own), then the singles' (one task or a few).
        assert not_queued[0].events == 100
        assert sum(r.events for r in not_queued[1:]) == 3
        assert not Event.objects.filter(requeue_at__isnull=True).exists()  # marked due

        restart_redis()
        back = time.monotonic()
        stack.wait_until_settled(timeout=RECOVERY_SECONDS)
        recovery = time.monotonic() - back

    print(f"\nsent {recovery:.1f} s after Redis came back")
    stored = assert_all_sent_exactly_once(stack)
    assert len(stored) == 103
    assert set(Event.objects.values_list("attempts", flat=True)) == {1}
    assert "Sweeper re-queued 103 pending events" in stack.worker.log()


def test_it_answers_within_seconds_while_redis_does_not_answer_and_the_sweeper_sends_later(
    start_stack, api_client, caplog
):
    stack = start_stack()
    stack.start_beat()
    with unanswered_port() as port, producer_on(f"redis://127.0.0.1:{port}/0"):
        started = time.monotonic()
        events = bulk_events("unanswered", 50)
        response = api_client.post("/events/bulk", {"events": events}, format="json")
        took = time.monotonic() - started

    assert response.status_code == 201
    assert took < NO_HANG_SECONDS
    assert set(Event.objects.values_list("sync_status", flat=True)) == {SyncStatus.PENDING}
    [not_queued] = [r for r in caplog.records if "Could not queue the Klaviyo sync" in r.message]
    assert "Timeout connecting" in not_queued.message

    # Redis answers again (this process's producer back on the stack's broker).
    back = time.monotonic()
    stack.wait_until_settled(timeout=RECOVERY_SECONDS)
    print(f"\nsent {time.monotonic() - back:.1f} s after Redis answered again")

    stored = assert_all_sent_exactly_once(stack)
    assert len(stored) == 50


def test_events_whose_tasks_were_lost_in_a_redis_restart_are_sent_within_a_minute(
    start_stack, api_client, private_redis
):
    """Redis answered, the tasks were queued, then Redis restarted without persistence before
    a worker took them: the sweeper finds its marker gone and queues the events at once, not
    after SYNC_STALE_PENDING_SECONDS (10 minutes, the production default, kept here)."""
    url, servers, restart_redis = private_redis
    with producer_on(url):
        stack = start_stack(broker_url=url)
        stack.start_beat()
        broker = redis.Redis.from_url(url)
        assert broker.exists(MARKER_KEY)
        stack.stop_worker()  # and beat: nobody takes the tasks queued next
        response = api_client.post(
            "/events/bulk", {"events": bulk_events("lost-in-restart", 40)}, format="json"
        )
        assert response.status_code == 201
        assert not Event.objects.filter(requeue_at__isnull=False).exists()  # queued, not due
        assert broker.llen("celery") >= 1

        servers[-1].stop()
        restart_redis()  # back, empty
        back = time.monotonic()
        stack.start_worker()
        stack.start_beat()
        stack.wait_until_settled(timeout=RECOVERY_SECONDS)
        recovery = time.monotonic() - back

    print(f"\nsent {recovery:.1f} s after Redis came back empty")
    assert len(assert_all_sent_exactly_once(stack)) == 40
    assert "The broker came back without its queue: 40 pending events due again, " in (
        stack.worker.log()
    )
