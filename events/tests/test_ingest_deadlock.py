"""An ingest the database picks as a deadlock victim runs again instead of answering 503.

Under load, the sync marks profiles `sent` (rows locked in id order) while an ingest upserts
them (in identity order); InnoDB breaks such a deadlock by rolling one transaction back with
error 1213 (found by bench/load.py). The database's answer is played here on the real
connection, on the profile upsert's statement, as InnoDB gives it.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import OperationalError, connection

from core.db import RETRY_ATTEMPTS
from events.models import Event, Profile

pytestmark = pytest.mark.django_db(transaction=True)

DEADLOCK = (1213, "Deadlock found when trying to get lock; try restarting transaction")
EVENT = {"eventName": "Purchase", "email": "a@example.com", "profileAttributes": {"plan": "pro"}}


@contextmanager
def deadlocks_on_profile_upsert(times: int) -> Iterator[list[str]]:
    """The first `times` profile upserts end in a deadlock; yields every upsert tried."""
    tried: list[str] = []

    def execute(run, sql, params, many, context):
        if sql.startswith(f"INSERT INTO {Profile._meta.db_table}"):
            tried.append(sql)
            if len(tried) <= times:
                raise OperationalError(*DEADLOCK)
        return run(sql, params, many, context)

    with connection.execute_wrapper(execute):
        yield tried


def test_a_single_event_deadlocked_once_is_stored(api_client, caplog):
    with deadlocks_on_profile_upsert(times=1) as tried:
        response = api_client.post("/events", EVENT, format="json")

    assert response.status_code == 201
    assert len(tried) == 2
    assert "deadlock victim, running it again" in caplog.text
    event = Event.objects.get()
    assert str(event.id) == response.json()["id"]
    assert event.profile.attributes == {"plan": "pro"}


def test_a_bulk_batch_deadlocked_twice_is_stored_whole(api_client):
    batch = [{**EVENT, "email": f"p{n}@example.com", "uniqueId": f"u{n}"} for n in range(3)]

    with deadlocks_on_profile_upsert(times=2) as tried:
        response = api_client.post("/events/bulk", {"events": batch}, format="json")

    assert response.status_code == 201
    assert response.json()["created"] == 3
    assert len(tried) == 3
    assert sorted(Event.objects.values_list("unique_id", flat=True)) == ["u0", "u1", "u2"]
    assert Profile.objects.count() == 3


def test_a_deadlock_at_every_attempt_answers_503_and_stores_nothing(api_client):
    batch = [{**EVENT, "uniqueId": "u1"}, {**EVENT, "email": "b@example.com"}]

    with deadlocks_on_profile_upsert(times=RETRY_ATTEMPTS) as tried:
        response = api_client.post("/events/bulk", {"events": batch}, format="json")

    assert response.status_code == 503
    assert response.json()["statusCode"] == 503
    assert len(tried) == RETRY_ATTEMPTS
    assert Event.objects.count() == 0
    assert Profile.objects.count() == 0


def test_another_database_error_is_not_tried_again(api_client):
    tried: list[str] = []

    def execute(run, sql, params, many, context):
        if sql.startswith(f"INSERT INTO {Profile._meta.db_table}"):
            tried.append(sql)
            raise OperationalError(2013, "Lost connection to server during query")
        return run(sql, params, many, context)

    with connection.execute_wrapper(execute):
        response = api_client.post("/events", EVENT, format="json")

    assert response.status_code == 503
    assert len(tried) == 1
    assert Event.objects.count() == 0
