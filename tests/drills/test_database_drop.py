"""Drill 5: the database connection drops. The API's connection (kept between requests,
CONN_MAX_AGE) is killed server-side: the next request reconnects and succeeds; killed in the
middle of a bulk insert, the request answers 503 and stores nothing, and the client's retry
stores all. The worker's connection is killed in the middle of a batch: it records what
Klaviyo accepted on a new connection, and nothing is sent twice.

MySQL/MariaDB only (CI): the drill kills connections with the server's `KILL`, and SQLite has
no server nor connection to drop. On SQLite these tests are not defined (not skipped): what
they pin, reconnection, does not exist there.
"""

import threading

import pytest
import requests
from django.db import connection

from events.models import Event
from testkit.procs import start_api_server, wait_until
from testkit.stack import assert_all_sent_exactly_once
from tests.drills import mysql
from tests.drills.payloads import bulk_events

pytestmark = pytest.mark.e2e

API_KEY = "drill-api-key"
HEADERS = {"X-API-Key": API_KEY}


@pytest.fixture
def api_server(start_stack):
    """The sync stack, and the API on gunicorn (a real server: Django's test client leaves
    out the connection checks that run between requests) on the same database and broker."""
    stack = start_stack()
    server, url = start_api_server(env={**stack.env, "API_KEYS": API_KEY})
    yield stack, server, url
    server.stop()


def post_bulk(url: str, events: list[dict]) -> requests.Response:
    return requests.post(f"{url}/events/bulk", json={"events": events}, headers=HEADERS, timeout=30)


def uids(prefix: str) -> set[str]:
    return set(
        Event.objects.filter(unique_id__startswith=f"{prefix}-").values_list("unique_id", flat=True)
    )


def post_and_kill_mid_transaction(server_pid: int, url: str, prefix: str) -> requests.Response:
    """Posts 1,000 events and kills the server's connection while it inserts them (inside
    the ingest's transaction); returns the answer. Never half-stored: all or none."""
    events = bulk_events(prefix, 1000, profiles=200)
    # The connection the next request will use (kept between requests): found before, so
    # that the watch below is one quick query.
    [held] = mysql.connection_ids(server_pid)
    answer: list[requests.Response] = []
    poster = threading.Thread(target=lambda: answer.append(post_bulk(url, events)))
    poster.start()
    while poster.is_alive():
        # Its INSERTs (profiles, then events) run inside the ingest's transaction.
        if mysql.statements([held]).get(held, "").startswith("INSERT"):
            mysql.kill([held])
            break
    poster.join()
    stored = len(uids(prefix))
    assert (answer[0].status_code, stored) in ((201, 1000), (503, 0)), answer[0].text[:500]
    return answer[0]


if connection.vendor == "mysql":

    def test_it_reconnects_after_the_api_connection_is_killed_and_never_half_stores_a_bulk(
        api_server,
    ):
        stack, server, url = api_server
        assert post_bulk(url, bulk_events("before", 100)).status_code == 201
        held = mysql.connection_ids(server.pid)
        assert held  # kept open between requests (CONN_MAX_AGE)
        mysql.kill(held)
        wait_until(lambda: not mysql.alive(held), timeout=5, what="the connection is gone")

        # The first request after the drop: the health check finds the dead connection and
        # opens a new one before the request uses it.
        after = post_bulk(url, bulk_events("after", 100))
        assert after.status_code == 201, after.text
        assert len(uids("after")) == 100
        health = requests.get(f"{url}/health", timeout=10)
        assert (health.status_code, health.json()["database"]) == (200, "ok")

        # Dropped inside the insert's transaction: rolled back whole, answered 503 (retry),
        # not one row of the batch stored; the client's retry stores all of it.
        # A fast request may commit before the poll sees its transaction (it is then stored
        # whole): another batch is tried, a few times at most.
        for attempt in range(5):
            cut = post_and_kill_mid_transaction(server.pid, url, f"cut{attempt}")
            if cut.status_code == 503:
                break
            # Stored whole: the kill came after the commit, so the server holds no connection
            # until its next request, which reconnects (and is the next attempt's to watch).
            assert post_bulk(url, bulk_events(f"reconnect{attempt}", 1)).status_code == 201
        assert cut.status_code == 503, cut.text[:500]
        assert cut.json()["error"] == "Service Unavailable"
        assert cut.headers["Retry-After"]
        again = post_bulk(url, bulk_events(f"cut{attempt}", 1000, profiles=200))
        assert again.status_code == 201, again.text[:500]
        assert len(uids(f"cut{attempt}")) == 1000
        assert "Database unavailable" in server.log()

        stack.wait_until_settled()
        stored = assert_all_sent_exactly_once(stack)
        assert len(stored) == Event.objects.count() == 200 + 1000 * (attempt + 1) + attempt

    def test_it_sends_each_event_once_when_the_worker_connection_is_killed_mid_batch(
        start_stack, api_client
    ):
        stack = start_stack()
        store = stack.emulator.store
        # The batch is with Klaviyo (and the worker holds its connection, idle) for 2 s.
        stack.emulator.faults.configure({"latency_ms": 2000})
        response = api_client.post(
            "/events/bulk", {"events": bulk_events("worker", 100)}, format="json"
        )
        assert response.status_code == 201
        wait_until(lambda: store.events_received == 100, timeout=20, what="the batch is sent")
        held = mysql.connection_ids(stack.worker.pid)
        assert held
        mysql.kill(held)
        stack.emulator.faults.clear()

        stack.wait_until_settled()

        # Klaviyo's answer was recorded through a new connection: nothing was sent again.
        stored = assert_all_sent_exactly_once(stack, received=1)
        assert len(stored) == 100
        assert set(Event.objects.values_list("attempts", flat=True)) == {1}
        assert "database unavailable" in stack.worker.log()
        # Between batches the worker holds no connection to drop: Celery's Django fixup closes
        # it after each task (and the next task opens one), which is why the drop is mid-batch.
        wait_until(
            lambda: not mysql.connection_ids(stack.worker.pid),
            timeout=5,
            what="the worker holds no connection between tasks",
        )
