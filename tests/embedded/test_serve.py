"""`manage.py serve` with no broker, as the README's first command runs it: the web server, a
Celery worker and beat on the embedded broker, in a folder beside the instance's own SQLite
database (here a temporary one, beside nothing of the developer's). Retries wait their
countdown, beat runs the purge at PURGE_CRON, and SIGTERM stops every process."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from klaviyo_emulator import DEFAULT_API_KEY, Emulator, EmulatorConfig
from testkit.procs import Process, free_port, start_process, wait_until

API_KEY = "serve-test-key"
# Short intervals through the settings: retries 0.5 s, 1 s, 2 s; a heartbeat a second.
FAST = {
    "KLAVIYO_RETRY_BASE_DELAY": "0.5",
    "KLAVIYO_RETRY_MAX_DELAY": "2",
    "KLAVIYO_RETRY_JITTER": "0.1",
    "WORKER_HEARTBEAT_SECONDS": "1",
    "HEALTH_WORKER_SILENT_SECONDS": "5",
    "PURGE_CRON": "* * * * *",
    "DATA_RETENTION_DAYS": "1",
}


@dataclass
class Served:
    process: Process
    url: str
    database: Path
    emulator: Emulator

    def post(self, path: str, body: dict) -> dict:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "X-API-Key": API_KEY},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
            return json.loads(response.read())

    def health(self) -> dict:
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            return {}

    def rows(self, sql: str, *params: object) -> list[tuple]:
        with sqlite3.connect(self.database, timeout=20) as connection:
            return connection.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("instance")
    emulator = Emulator(port=0, config=EmulatorConfig())
    emulator.start()
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("KLAVIYO_", "CELERY_", "PYTEST", "DATABASE_URL"))
    }
    env.update(
        DATABASE_URL=f"sqlite:///{folder / 'db.sqlite3'}",
        PORT=str(port),
        BIND_HOST="127.0.0.1",
        WEB_CONCURRENCY="1",
        API_KEYS=API_KEY,
        KLAVIYO_API_KEY=DEFAULT_API_KEY,
        KLAVIYO_BASE_URL=emulator.api_url,
        LOG_FORMAT="plain",
        PYTHONUNBUFFERED="1",
        **FAST,
    )
    # The README's first command (with PORT from the environment).
    process = start_process("serve", [sys.executable, "manage.py", "serve"], env=env)
    served = Served(process, f"http://127.0.0.1:{port}", folder / "db.sqlite3", emulator)
    try:
        wait_until(
            lambda: served.health().get("status") == "ok" or not process.alive(),
            timeout=90,
            what="serve answers /health ok (worker seen)",
        )
        assert process.alive(), process.log()
        yield served
    finally:
        process.stop(timeout=40)
        emulator.stop()


def test_it_runs_web_worker_and_beat_with_the_queue_beside_its_database(served):
    health = served.health()
    assert health["broker"] == "ok"
    assert health["workerLastSeenSeconds"] < 5
    broker = served.database.with_name("db.sqlite3-broker")
    assert {"control", "processing", "queue"} <= {p.name for p in broker.iterdir()}
    # Beat's pid file beside the queue once it runs (it may start after the worker is seen).
    wait_until(lambda: (broker / "beat.pid").exists(), timeout=30, what="beat's pid file")
    names = {line.split(" | ", 1)[0].strip() for line in served.process.log().splitlines()}
    assert {"serve", "web", "worker", "beat"} <= names


def test_an_event_klaviyo_refused_three_times_is_delivered_after_its_countdowns(served):
    served.emulator.faults.configure({"status": 503, "count": 3})
    started = time.monotonic()

    created = served.post(
        "/events",
        {"eventName": "Purchase", "email": "retry@example.com", "uniqueId": "serve-retry-1"},
    )

    assert created["syncStatus"] == "pending"
    wait_until(
        lambda: served.emulator.store.events_with_unique_id("serve-retry-1"),
        timeout=60,
        what="the event reaches the emulator",
    )
    elapsed = time.monotonic() - started
    # The three retries waited their countdowns (0.5, 1, 2 s, less 10% jitter each).
    assert elapsed >= 0.45 + 0.9 + 1.8
    wait_until(
        lambda: (
            served.rows("SELECT sync_status FROM events_event WHERE unique_id = ?", "serve-retry-1")
            == [("sent",)]
        ),
        timeout=20,
        what="the row is marked sent",
    )
    [(attempts,)] = served.rows(
        "SELECT attempts FROM events_event WHERE unique_id = ?", "serve-retry-1"
    )
    assert attempts == 4
    assert served.emulator.store.faults_served >= 3
    assert len(served.emulator.store.events_with_unique_id("serve-retry-1")) == 1


def test_beat_runs_the_purge_at_purge_cron_and_expired_events_go(served):
    for number in range(3):
        served.post(
            "/events",
            {
                "eventName": "Page View",
                "email": f"p{number}@example.com",
                "uniqueId": f"serve-purge-{number}",
            },
        )
    # Received three days ago: past DATA_RETENTION_DAYS=1.
    served.rows(
        "UPDATE events_event SET created_at = datetime('now', '-3 days') "
        "WHERE unique_id IN ('serve-purge-0', 'serve-purge-1')"
    )

    # PURGE_CRON is every minute: the next minute's purge takes them.
    wait_until(
        lambda: (
            served.rows("SELECT unique_id FROM events_event WHERE unique_id LIKE 'serve-purge-%'")
            == [("serve-purge-2",)]
        ),
        timeout=90,
        interval=0.5,
        what="the purge deletes the expired events",
    )
    # The run's record, finished once the profiles left without events are gone too.
    wait_until(
        lambda: (
            served.rows(
                "SELECT outcome, events_deleted FROM cleanup_purgerun WHERE events_deleted > 0"
            )
            == [("succeeded", 2)]
        ),
        timeout=20,
        what="the purge run is recorded",
    )
    # Celery logs the task's success once it returned, after the record was written.
    wait_until(
        lambda: bool(
            re.search(
                r"^worker +\| .*purge_expired_data_task.*succeeded", served.process.log(), re.M
            )
        ),
        timeout=20,
        what="the worker logs the purge task's success",
    )


def test_sigterm_stops_every_process(served):
    processes = [psutil.Process(served.process.pid)]
    processes += processes[0].children(recursive=True)
    assert len(processes) >= 5  # serve, gunicorn and its worker, celery worker and pool, beat

    os.kill(served.process.pid, signal.SIGTERM)

    assert served.process.popen.wait(timeout=40) == 0
    _, alive = psutil.wait_procs(processes, timeout=10)
    assert alive == []
    log = served.process.log()
    for name in ("web", "worker", "beat"):
        assert re.search(rf"^serve +\| {name} stopped", log, re.M), log[-3000:]
