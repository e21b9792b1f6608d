"""Fixtures of the tests with real processes (tests/e2e, tests/drills): the broker, this
process's Celery producer on it, and the Klaviyo emulator.

The broker is CELERY_BROKER_URL; unset, the fallback Redis when it answers, else the embedded
broker beside the test database (testkit.procs.broker_url): a machine with only Python runs
them too."""

from collections.abc import Iterator

import pytest

from klaviyo_emulator import DEFAULT_API_KEY, Emulator, EmulatorConfig
from testkit.procs import broker_reachable, broker_url, is_embedded, producer_on


@pytest.fixture
def broker() -> str:
    url = broker_url()
    if not is_embedded(url):
        assert broker_reachable(url), f"end-to-end tests need Redis at {url} (CELERY_BROKER_URL)"
    return url


@pytest.fixture
def celery_producer(broker: str) -> Iterator[None]:
    """This process queues tasks on the real broker, not eagerly."""
    with producer_on(broker):
        yield


@pytest.fixture
def emulator(settings: pytest.FixtureRequest) -> Iterator[Emulator]:
    """The Klaviyo of this process too: events it ingests are stored `pending` (with no key
    they would be `skipped`), and its Klaviyo calls go to the emulator."""
    emulator = Emulator(port=0, config=EmulatorConfig())
    emulator.start()
    settings.KLAVIYO_API_KEY = DEFAULT_API_KEY
    settings.KLAVIYO_BASE_URL = emulator.api_url
    yield emulator
    emulator.stop()
