"""The claim of a consent change is decided by the database: of workers racing for one change,
exactly one sends it; and a broker that can't take a task never fails the caller."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.utils import timezone

from events.consent_services import consent_change_create
from events.models import ConsentChange
from klaviyo_sync import tasks
from klaviyo_sync.consent_sync import _claim

WORKERS = 6


@pytest.mark.django_db(transaction=True)
def test_of_workers_racing_for_a_change_exactly_one_claims_it() -> None:
    if connection.vendor == "sqlite":
        pytest.skip("SQLite serialises every write: the race needs MySQL/MariaDB")
    change = consent_change_create(kind="suppress", addresses=[{"email": "a@x.io"}])
    start = threading.Barrier(WORKERS)

    def claim(_: int) -> str:
        try:
            start.wait()
            return _claim(change.id, timezone.now())
        finally:
            connection.close()

    with ThreadPoolExecutor(WORKERS) as pool:
        outcomes = list(pool.map(claim, range(WORKERS)))

    assert sorted(outcomes) == ["busy"] * (WORKERS - 1) + ["claimed"]
    assert ConsentChange.objects.get(id=change.id).attempts == 1


@pytest.mark.django_db
def test_a_broker_that_refuses_a_task_leaves_the_change_to_the_sweeper(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise ConnectionError("Redis is away")

    monkeypatch.setattr(tasks.sync_consent_change, "apply_async", refuse)
    change = consent_change_create(kind="suppress", addresses=[{"email": "a@x.io"}])

    tasks.queue_consent_changes([change.id])  # logs, never raises

    assert ConsentChange.objects.get(id=change.id).status == "pending"
