"""Fixtures of the sync's tests: a configured Klaviyo (stubbed with `responses`), fast retries,
and a count of the sync tasks that ran."""

from collections.abc import Iterator

import pytest
import responses
from celery.signals import task_prerun

BASE = "https://klaviyo.test/api"
KEY = "pk_test_0123456789"


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
