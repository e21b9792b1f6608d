"""The end-to-end sync stack, for e2e tests and fault drills: the Klaviyo emulator (in this
process), a real Celery worker on the broker (Redis, or the embedded one beside the test
database), and the database of this process, which the worker shares (in a test: the test
database; use `transactional_db`, rows must be committed for the worker to see them).

    stack = SyncStack.start(broker=broker_url(), emulator=emulator)   # flushes the broker
    ... post events ...
    stack.wait_until_settled()
    stack.stored_by_unique_id()                                       # Klaviyo's copy of each
    stack.stop_worker()

Retry delays are short (worker settings through its environment), so a scenario where the
emulator fails still ends in seconds.
"""

from __future__ import annotations

from collections.abc import Set
from typing import Any

import redis

from events.models import Event, SyncStatus
from klaviyo_backend.beat import beat_schedule_sync
from klaviyo_client.mapping import SENT_MESSAGE
from klaviyo_emulator import DEFAULT_API_KEY, Emulator
from testkit.procs import (
    Process,
    broker_flush,
    database_url,
    start_beat,
    start_worker,
    wait_until,
    worker_env,
)

# Seconds, through the worker's settings: fast retries of Klaviyo's failures. Nothing that a
# recovery depends on is shortened: the send lease (derived from the client's timeouts and
# rate-limit wait), the sweep interval, the stale threshold and Redis's visibility timeout
# keep their production defaults, so a drill's recovery time is production's.
FAST_WORKER_SETTINGS = {
    "KLAVIYO_RETRY_BASE_DELAY": "0.2",
    "KLAVIYO_RETRY_MAX_DELAY": "1",
    "KLAVIYO_RETRY_JITTER": "0.1",
    "KLAVIYO_MAX_ATTEMPTS": "8",
}
SETTLE_TIMEOUT = 45  # seconds for every row to leave `pending`


class SyncStack:
    def __init__(self, *, emulator: Emulator, env: dict[str, str], concurrency: int = 1) -> None:
        self.emulator = emulator
        self.env = env
        self.concurrency = concurrency
        self.worker: Process | None = None
        self.beat: Process | None = None

    @classmethod
    def start(
        cls, *, broker: str, emulator: Emulator, concurrency: int = 1, **settings: str
    ) -> SyncStack:
        """Empties the broker, then starts a worker (`concurrency` pool processes) pointed at
        `emulator` and this process's database; `settings` override FAST_WORKER_SETTINGS and
        the rest of its environment."""
        broker_flush(broker)
        env = worker_env(
            broker=broker,
            database=database_url(),
            KLAVIYO_API_KEY=DEFAULT_API_KEY,
            KLAVIYO_BASE_URL=emulator.api_url,
            **{**FAST_WORKER_SETTINGS, **settings},
        )
        stack = cls(emulator=emulator, env=env, concurrency=concurrency)
        stack.start_worker()
        return stack

    def start_worker(self) -> Process:
        self.worker = start_worker(env=self.env, concurrency=self.concurrency)
        return self.worker

    def start_beat(self) -> Process:
        """celery beat on this stack's broker and database, with the declared schedule (the
        sweeper every SYNC_SWEEP_INTERVAL_SECONDS); stopped with the worker."""
        beat_schedule_sync()  # a test database emptied by an earlier test has none
        self.beat = start_beat(env=self.env)
        return self.beat

    def stop_worker(self) -> None:
        """At the end of a test: killed at once (SIGKILL to its process group). A warm shutdown
        takes a second per test and proves nothing here; the next stack flushes the broker."""
        if self.worker is not None and self.worker.alive():
            self.worker.kill()
        if self.worker is not None:
            self.worker.stop()  # closes its log file
        if self.beat is not None:
            self.beat.kill()
            self.beat.stop()

    def wait_until_settled(self, *, timeout: float = SETTLE_TIMEOUT) -> None:
        """Until no event is pending; on timeout, says what the worker logged."""
        try:
            wait_until(
                lambda: not Event.objects.filter(sync_status=SyncStatus.PENDING).exists(),
                timeout=timeout,
                interval=0.2,
                what="every event leaves pending",
            )
        except TimeoutError as error:
            log = self.worker.log()[-6000:] if self.worker else ""
            raise AssertionError(f"{error}\nworker log:\n{log}") from None

    def wait_for_broker_consumer(self, *, timeout: float = 30) -> None:
        """Until the worker, reconnected to a Redis that came back empty, has declared its
        queue there again (nothing else has: the producer declares it on its first send)."""
        assert self.env["CELERY_BROKER_URL"], "Redis only (the embedded broker has no URL)"
        client = redis.Redis.from_url(self.env["CELERY_BROKER_URL"])
        try:
            wait_until(
                lambda: _answers(client) and client.exists("_kombu.binding.celery"),
                timeout=timeout,
                interval=0.1,
                what="the worker declares its queue",
            )
        finally:
            client.close()

    def stored_by_unique_id(self) -> dict[str, Any]:
        """Klaviyo's copy of each event, by unique_id; fails if one was stored twice."""
        stored: dict[str, Any] = {}
        for event in self.emulator.store.events:
            assert event.unique_id not in stored, f"{event.unique_id} stored twice"
            stored[event.unique_id] = event
        return stored


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def assert_all_sent_exactly_once(
    stack: SyncStack, *, received: Set[int] | int = 1, deleted: Set[str] = frozenset()
) -> dict:
    """Every row `sent`, and stored in Klaviyo once each, having reached it a number of times
    in `received` (2: a send repeated after a crash, deduplicated by unique_id). Klaviyo holds
    nothing else but the events in `deleted` (unique_ids of rows purged since they were sent)."""
    allowed = {received} if isinstance(received, int) else received
    rows = list(Event.objects.all())
    assert rows
    assert {row.sync_status for row in rows} == {SyncStatus.SENT}
    assert {row.klaviyo_response for row in rows} == {SENT_MESSAGE}
    assert all(row.synced_at is not None and row.last_error == "" for row in rows)
    stored = stack.stored_by_unique_id()
    assert set(stored) == {row.klaviyo_unique_id for row in rows} | deleted
    counts = stack.emulator.store.received_by_unique_id
    assert {counts[row.klaviyo_unique_id] for row in rows} <= allowed
    return stored
