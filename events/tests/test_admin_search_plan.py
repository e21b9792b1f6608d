"""On MariaDB/MySQL, the event list's search is index-backed: the plan EXPLAIN gives for the
statements the list runs uses the email index for a prefix and the uniqueId's unique index for
an exact id, never a scan of the table. (SQLite has no such plan to pin; bench/dashboard.py
times both searches on 1M events.)"""

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from events.models import Event, Profile

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "mysql", reason="pins MariaDB's query plan (CI runs on MariaDB)"
    ),
]

EVENTS = reverse("admin:events_event_changelist")
# The indexes that lead with the email: an email prefix is a range on either (the optimizer
# picks by statistics; GET /events added the second).
EMAIL_INDEXES = ("event_email_name_time", "event_email_created")


@pytest.fixture(scope="module")
def many_events(django_db_setup: None, django_db_blocker) -> Iterator[None]:
    """Enough rows, spread over enough emails, that a table scan would cost the optimizer
    more than the indexes; statistics refreshed as on a live table. Committed once for the
    module (ANALYZE TABLE commits; 8,000 rows take seconds), deleted after it: each test runs
    in a transaction rolled back on top of them."""
    with django_db_blocker.unblock():
        profiles = Profile.objects.bulk_create(
            Profile(identity=f"user{n:04d}@example.com", email=f"user{n:04d}@example.com")
            for n in range(400)
        )
        now = timezone.now()
        events = Event.objects.bulk_create(
            (
                Event(
                    id=uuid.uuid4(),
                    event_name="Purchase",
                    email=profiles[n % 400].email,
                    profile=profiles[n % 400],
                    unique_id=f"order-{n}",
                    time=now,
                    created_at=now - timedelta(seconds=n),
                )
                for n in range(8000)
            ),
            batch_size=2000,
        )
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE TABLE {Event._meta.db_table}")
            cursor.fetchall()
    try:
        yield
    finally:
        with django_db_blocker.unblock():
            Event.objects.filter(id__in=[event.id for event in events]).delete()
            Profile.objects.filter(id__in=[profile.id for profile in profiles]).delete()


def plans_of_search(client, term: str) -> list[dict]:
    """EXPLAIN of every statement of the list that searched the events table for the term
    (the page, its capped count); not the filters' own queries."""
    with CaptureQueriesContext(connection) as context:
        assert client.get(EVENTS, {"q": term}).status_code == 200
    table = Event._meta.db_table
    needle = term.lower()
    statements = [
        q["sql"]
        for q in context.captured_queries
        if f"`{table}`" in q["sql"] and needle in q["sql"]
    ]
    assert statements, "the list ran no query on the events table"
    plans = []
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute("EXPLAIN " + statement)
            columns = [column[0] for column in cursor.description]
            plans += [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return [plan for plan in plans if plan["table"] in (table, "events_event")]


@pytest.mark.parametrize("term", ["user012", "USER0123@example.com", "order-4242", "nobody"])
def test_the_event_search_reads_the_email_and_unique_id_indexes(admin_client, many_events, term):
    plans = plans_of_search(admin_client, term)

    for plan in plans:
        assert plan["type"] in ("range", "ref", "eq_ref", "const"), plan
        assert plan["key"] in EMAIL_INDEXES or "unique_id" in plan["key"], plan
