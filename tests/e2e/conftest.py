"""Fixtures of the end-to-end tests: the sync stack of testkit/stack.py (a real worker on this
test's database); the broker, producer and emulator fixtures are in tests/conftest.py."""

from collections.abc import Iterator

import pytest

from klaviyo_emulator import Emulator
from testkit.stack import SyncStack


@pytest.fixture
def sync_stack(
    transactional_db: None, broker: str, celery_producer: None, emulator: Emulator
) -> Iterator[SyncStack]:
    """Emulator + a fresh broker + a ready worker on this test's database."""
    stack = SyncStack.start(broker=broker, emulator=emulator)
    yield stack
    stack.stop_worker()
