"""Drill 6: two purges and a bulk ingest at the same time. Expired events (sent long ago) are
purged by `manage.py purge_old_data` while a second command and POST /cleanup/manual try to
purge too and fresh events are posted: one purge runs, the others report the lock, every
expired row goes, no fresh one, and every fresh event reaches Klaviyo once.

The first purge is paused (SIGSTOP) between two of its transactions while it holds the lock,
and let go (SIGCONT) after the second one tried: two processes started together overlap or not
as the scheduler has it, and the drill must see the overlap every time.
"""

import os
import signal
import sqlite3
import sys
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from cleanup.models import PurgeOutcome, PurgeRun
from events.models import Event, Profile
from testkit.procs import Process, wait_until
from testkit.stack import assert_all_sent_exactly_once
from tests.drills import mysql
from tests.drills.payloads import bulk_events

pytestmark = pytest.mark.e2e

EXPIRED = 2000
# Small batches: the purge takes a thousand transactions, long enough to catch it running.
PURGE = [sys.executable, "manage.py", "purge_old_data", "--batch-size", "2"]
EXIT_ALREADY_RUNNING = 3


def post(api_client, events: list[dict]) -> None:
    response = api_client.post("/events/bulk", {"events": events}, format="json")
    assert response.status_code == 201, response.content


def holds_a_transaction(process: Process) -> bool:
    """Of a stopped process: whether it stopped inside a transaction."""
    if connection.vendor == "mysql":
        time.sleep(mysql.TRX_CACHE_SECONDS * 1.5)  # InnoDB's view of it, fresh
        return bool(mysql.transactions(mysql.connection_ids(process.pid)))
    # SQLite: a writer's transaction holds the database's write lock; try to take it.
    probe = sqlite3.connect(connection.settings_dict["NAME"], timeout=0)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.rollback()
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        probe.close()


def pause_between_transactions(process: Process) -> None:
    """SIGSTOP, at a moment the process is not inside a transaction (it would hold locks)."""
    deadline = time.monotonic() + 15  # a lock wait of the purge's may last seconds
    attempt = 0
    while time.monotonic() < deadline:
        os.kill(process.pid, signal.SIGSTOP)
        if not holds_a_transaction(process):
            return
        os.kill(process.pid, signal.SIGCONT)
        attempt += 1
        time.sleep(0.001 * (1 + attempt % 7))  # let it go on, a varying while
    doing = (
        mysql.transactions(mysql.connection_ids(process.pid))
        if connection.vendor == "mysql"
        else ""
    )
    raise AssertionError(f"the purge was always inside a transaction: {doing}")


def test_it_runs_one_of_two_purges_during_an_ingest_and_deletes_only_expired_rows(
    start_stack, spawn, api_client
):
    stack = start_stack()
    # Expired: posted, sent, then aged past the retention period (7 days).
    post(api_client, bulk_events("old-a", EXPIRED // 2, profiles=100))
    post(api_client, bulk_events("old-b", EXPIRED // 2, profiles=100))
    post(api_client, [{"eventName": "Old", "email": "shared@example.com", "uniqueId": "old-c"}])
    stack.wait_until_settled()
    long_ago = timezone.now() - timedelta(days=10)
    expired = set(Event.objects.values_list("unique_id", flat=True))
    assert len(expired) == EXPIRED + 1
    Event.objects.update(created_at=long_ago)
    Profile.objects.update(created_at=long_ago, updated_at=long_ago)

    assert not PurgeRun.objects.exists()
    first = spawn("purge-1", PURGE, stack.env)
    running = PurgeRun.objects.filter(outcome=PurgeOutcome.RUNNING)
    wait_until(running.exists, timeout=30, interval=0.01, what="the first purge runs")
    pause_between_transactions(first)
    try:
        assert first.alive() and running.exists(), (
            f"the first purge ended before its pause: {list(PurgeRun.objects.values())}\n"
            f"{first.log()}"
        )
        second = spawn("purge-2", PURGE, stack.env)
        assert second.popen.wait(timeout=60) == EXIT_ALREADY_RUNNING, second.log()
        assert "Another purge is running" in second.log()
        manual = api_client.post("/cleanup/manual", {}, format="json")
        # Fresh events meanwhile, one of them for a profile that also has expired events.
        post(api_client, bulk_events("fresh-a", 500))
        post(api_client, [{"eventName": "New", "email": "shared@example.com", "uniqueId": "new"}])
    finally:
        os.kill(first.pid, signal.SIGCONT)
    post(api_client, bulk_events("fresh-b", 500))  # while the purge deletes
    assert first.popen.wait(timeout=60) == 0, first.log()

    assert manual.status_code == 409, manual.content
    assert manual.json()["message"][0].startswith("Another purge is running")
    runs = list(PurgeRun.objects.order_by("pk"))
    assert [run.outcome for run in runs] == [PurgeOutcome.SUCCEEDED] + [PurgeOutcome.SKIPPED] * 2
    assert (runs[0].events_deleted, runs[0].unsynced_events_deleted) == (EXPIRED + 1, 0)
    assert runs[0].profiles_deleted == 200  # old-a-*, old-b-*; not the shared one
    assert "Traceback" not in first.log() + second.log()
    # Every expired row went, no fresh one; the shared profile stays with its new event.
    assert not Event.objects.filter(unique_id__in=expired).exists()
    assert Event.objects.count() == 1001
    assert set(Profile.objects.values_list("email", flat=True)) == {
        *(f"fresh-{batch}-{n}@example.com" for batch in "ab" for n in range(5)),
        "shared@example.com",
    }
    stack.wait_until_settled()
    stored = assert_all_sent_exactly_once(stack, deleted=expired)
    assert len(stored) == 1001 + len(expired)
    assert "ERROR" not in stack.worker.log()
