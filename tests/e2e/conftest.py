"""The end-to-end stack: the Klaviyo emulator (in this process), a real Celery worker on the
Redis broker, and this test's database, which the worker shares (hence `transactional_db`:
rows must be committed for the worker to see them).

Retry delays are short (settings through the worker's environment), so a test that makes the
emulator fail still finishes in seconds.
"""

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from events.models import Event, SyncStatus
from klaviyo_backend.celery import app as celery_app
from klaviyo_sync.emulator import DEFAULT_API_KEY, Emulator, EmulatorConfig
from tests.procs import (
    Process,
    broker_flush,
    broker_reachable,
    broker_url,
    database_url,
    start_worker,
    wait_until,
    worker_env,
)

# Seconds, through the worker's settings: fast retries, and a killed worker's task comes back
# (Redis visibility timeout) and its claim on the rows expires (send lease) within seconds.
E2E_WORKER_SETTINGS = {
    "KLAVIYO_RETRY_BASE_DELAY": "0.2",
    "KLAVIYO_RETRY_MAX_DELAY": "1",
    "KLAVIYO_RETRY_JITTER": "0.1",
    "KLAVIYO_MAX_ATTEMPTS": "8",
    "CELERY_VISIBILITY_TIMEOUT": "3",
    "KLAVIYO_SEND_LEASE_SECONDS": "2",
}
SETTLE_TIMEOUT = 45  # seconds for every row to leave `pending`


class SyncStack:
    def __init__(self, *, emulator: Emulator, env: dict[str, str]) -> None:
        self.emulator = emulator
        self.env = env
        self.worker: Process | None = None

    def start_worker(self) -> Process:
        self.worker = start_worker(env=self.env)
        return self.worker

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()

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

    def wait_for_redelivery(self) -> None:
        """Until Redis would hand a dead worker's unacknowledged tasks to a new worker (the
        visibility timeout has passed since they were taken); a new worker restores them when
        it starts."""
        timeout = float(self.env["CELERY_VISIBILITY_TIMEOUT"])
        client = redis.Redis.from_url(self.env["CELERY_BROKER_URL"])
        taken = [score for _, score in client.zrange("unacked_index", 0, -1, withscores=True)]
        assert taken, "no unacknowledged task: the worker was not holding one"
        wait_until(
            lambda: time.time() > max(taken) + timeout + 0.5,
            timeout=timeout + 5,
            what="the visibility timeout of the dead worker's task",
        )

    def stored_by_unique_id(self) -> dict[str, Any]:
        """Klaviyo's copy of each event, by unique_id; fails if one was stored twice."""
        stored: dict[str, Any] = {}
        for event in self.emulator.store.events:
            assert event.unique_id not in stored, f"{event.unique_id} stored twice"
            stored[event.unique_id] = event
        return stored


@pytest.fixture
def broker() -> str:
    url = broker_url()
    assert broker_reachable(url), f"end-to-end tests need Redis at {url} (CELERY_BROKER_URL)"
    return url


@pytest.fixture
def celery_producer(broker: str) -> Iterator[None]:
    """This process queues tasks on the real broker, not eagerly."""
    conf = celery_app.conf
    previous = (conf.broker_url, conf.task_always_eager)
    # Unit tests run eagerly and never build the producer pool, so it will use this URL.
    conf.broker_url = broker
    conf.task_always_eager = False
    yield
    conf.broker_url, conf.task_always_eager = previous


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    emulator = Emulator(port=0, config=EmulatorConfig())
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def sync_stack(
    transactional_db: None, broker: str, celery_producer: None, emulator: Emulator
) -> Iterator[SyncStack]:
    """Emulator + a fresh broker + a ready worker on this test's database."""
    broker_flush(broker)
    env = worker_env(
        broker=broker,
        database=database_url(),
        KLAVIYO_API_KEY=DEFAULT_API_KEY,
        KLAVIYO_BASE_URL=emulator.api_url,
        **E2E_WORKER_SETTINGS,
    )
    stack = SyncStack(emulator=emulator, env=env)
    stack.start_worker()
    yield stack
    stack.stop_worker()
