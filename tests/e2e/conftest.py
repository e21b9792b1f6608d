"""Fixtures of the end-to-end tests: the emulator, the broker and the sync stack of
tests/stack.py (a real worker on this test's database)."""

from collections.abc import Iterator

import pytest

from klaviyo_backend.celery import app as celery_app
from klaviyo_sync.emulator import Emulator, EmulatorConfig
from tests.procs import broker_reachable, broker_url
from tests.stack import SyncStack


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
    stack = SyncStack.start(broker=broker, emulator=emulator)
    yield stack
    stack.stop_worker()
