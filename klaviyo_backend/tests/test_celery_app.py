"""The Celery app's worker set-up (klaviyo_backend/celery.py)."""

import gc

import pytest
from celery.signals import worker_process_init

from klaviyo_sync import tasks


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process's collector as it was


def test_a_pool_process_freezes_what_it_inherited_once_forked(unfrozen):
    assert gc.get_freeze_count() == 0

    worker_process_init.send(sender=None)

    assert gc.get_freeze_count() > 10_000
    # Frozen, the tasks' modules are in no generation a collection walks.
    assert not any(tracked is tasks.__dict__ for tracked in gc.get_objects())
