"""Fixtures of the sync's tests: a configured Klaviyo (stubbed with `responses`), fast retries,
a count of the sync tasks that ran, and the Klaviyo emulator served in this process."""

from collections.abc import Iterator

import pytest
import responses
from celery.signals import task_prerun

from klaviyo_emulator.app import EmulatorConfig
from klaviyo_emulator.server import Emulator

BASE = "https://klaviyo.test/api"
KEY = "pk_test_0123456789"
EMULATOR_KEY = "pk_e2e_in_process"


@pytest.fixture
def klaviyo(settings) -> Iterator[responses.RequestsMock]:
    """Klaviyo configured at BASE; every request must be stubbed by the test."""
    settings.KLAVIYO_API_KEY = KEY
    settings.KLAVIYO_BASE_URL = BASE
    settings.KLAVIYO_REVISION = "2026-07-15"
    settings.KLAVIYO_RETRY_BASE_DELAY = 0.0
    settings.KLAVIYO_RETRY_JITTER = 0.0
    settings.KLAVIYO_MAX_ATTEMPTS = 3
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def sync_tasks() -> Iterator[list[list[str]]]:
    """The event ids of every sync task run, in order."""
    seen: list[list[str]] = []

    def record(sender=None, args=None, **kwargs) -> None:
        if sender is not None and sender.name == "klaviyo_sync.tasks.sync_events":
            seen.append(list(args[0]) if args else list(kwargs["kwargs"]["event_ids"]))

    task_prerun.connect(record, weak=False)
    yield seen
    task_prerun.disconnect(record)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """The Klaviyo emulator on a free port of this process, no rate limits; one per module."""
    emulator = Emulator(port=0, config=EmulatorConfig(api_key=EMULATOR_KEY, rate_limits=False))
    emulator.start()
    yield emulator
    emulator.stop()


def klaviyo_is(emulator: Emulator, settings, *, retry_after: float | None = None) -> Emulator:
    """Empties `emulator` and points this process's Klaviyo settings at it; with
    `retry_after`, a failed send's first retry is due that many seconds later, no jitter.
    (The cache is emptied and the rate limiter off for every test already: root conftest.)"""
    emulator.app.reset()
    settings.KLAVIYO_API_KEY = EMULATOR_KEY
    settings.KLAVIYO_BASE_URL = emulator.api_url
    settings.KLAVIYO_REVISION = "2026-07-15"
    if retry_after is not None:
        settings.KLAVIYO_RETRY_BASE_DELAY = retry_after
        settings.KLAVIYO_RETRY_JITTER = 0.0
    return emulator
