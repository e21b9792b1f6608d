"""GET /events/{id} and GET /events: what became of the events a client posted."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from rest_framework.test import APIClient

from events.models import Event, SyncStatus
from events.selectors import EventPosition, event_list_statement
from events.tests.factories import EventFactory, ProfileFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _event(minutes: int, **fields: object) -> Event:
    return EventFactory(created_at=T0 + timedelta(minutes=minutes), **fields)


def test_it_answers_an_event_with_its_sync_status_attempts_and_last_error(
    api_client: APIClient,
) -> None:
    event = _event(0, sync_status=SyncStatus.FAILED, attempts=3, last_error="Klaviyo 400: bad")

    response = api_client.get(f"/events/{event.id}")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(event.id)
    assert body["syncStatus"] == "failed"
    assert body["attempts"] == 3
    assert body["lastError"] == "Klaviyo 400: bad"
    assert body["eventName"] == "Purchase"
    assert body["createdAt"] == "2026-03-01T12:00:00.000Z"


def test_it_answers_as_post_events_answered(api_client: APIClient) -> None:
    posted = api_client.post(
        "/events", {"eventName": "Purchase", "email": "a@example.com"}, format="json"
    ).json()

    assert api_client.get(f"/events/{posted['id']}").json() == posted


def test_it_answers_404_for_an_unknown_event(api_client: APIClient) -> None:
    response = api_client.get("/events/8f7b6c1e-2b1a-4c55-9a57-3f0f3f4b9a10")

    assert response.status_code == 404
    assert response.json()["message"] == ["Event 8f7b6c1e-2b1a-4c55-9a57-3f0f3f4b9a10 not found"]


def test_the_read_endpoints_under_events_keep_their_routes(api_client: APIClient) -> None:
    response = api_client.get("/events/count", {"metric": "Purchase", "date": "2026-03-01"})

    assert response.status_code == 200
    assert "count" in response.json()


def test_it_needs_the_api_key(anonymous_client: APIClient) -> None:
    assert anonymous_client.get("/events").status_code == 401


def test_it_lists_newest_stored_first(api_client: APIClient) -> None:
    old, new = _event(0), _event(5)

    body = api_client.get("/events").json()

    assert [item["id"] for item in body["events"]] == [str(new.id), str(old.id)]
    assert body["nextCursor"] is None


def test_it_filters_by_status_metric_email_and_created_window(api_client: APIClient) -> None:
    alice = ProfileFactory(email="alice@example.com")
    match = _event(10, profile=alice, event_name="Refund", sync_status=SyncStatus.FAILED)
    _event(11, profile=alice, event_name="Refund", sync_status=SyncStatus.SENT)
    _event(12, profile=alice, event_name="Purchase", sync_status=SyncStatus.FAILED)
    _event(13, event_name="Refund", sync_status=SyncStatus.FAILED)
    _event(30, profile=alice, event_name="Refund", sync_status=SyncStatus.FAILED)
    _event(1, profile=alice, event_name="Refund", sync_status=SyncStatus.FAILED)

    body = api_client.get(
        "/events",
        {
            "syncStatus": "failed",
            "metric": "Refund",
            "email": "ALICE@example.com",
            "since": "2026-03-01T12:05:00Z",
            "until": "2026-03-01T12:20:00Z",
        },
    ).json()

    assert [item["id"] for item in body["events"]] == [str(match.id)]


def test_the_cursor_walks_every_event_once_even_when_created_at_ties(
    api_client: APIClient,
) -> None:
    stored = {str(_event(minute // 3).id) for minute in range(12)}  # 3 events per instant

    seen: list[str] = []
    params: dict[str, object] = {"limit": 5}
    pages = 0
    while True:
        body = api_client.get("/events", params).json()
        pages += 1
        seen += [item["id"] for item in body["events"]]
        if body["nextCursor"] is None:
            break
        params["cursor"] = body["nextCursor"]

    assert pages == 3
    assert len(seen) == 12
    assert set(seen) == stored
    created = [Event.objects.get(pk=event_id).created_at for event_id in seen]
    assert created == sorted(created, reverse=True)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "1001"}, "limit must be at most 1000"),
        ({"limit": "0"}, "limit must be at least 1"),
        ({"syncStatus": "done"}, "syncStatus must be one of pending, sent, failed, skipped"),
        ({"email": "nope"}, "email must be a valid email"),
        ({"cursor": "!!"}, "cursor must be the nextCursor of a previous answer"),
        (
            {"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"},
            "since must be before until",
        ),
        ({"status": "failed"}, "property status should not exist"),
    ],
)
def test_it_refuses_a_bad_query(
    api_client: APIClient, params: dict[str, str], message: str
) -> None:
    response = api_client.get("/events", params)

    assert response.status_code == 400
    assert message in response.json()["message"]


def _page_plan(filters: dict[str, str], after: EventPosition) -> tuple[str, str]:
    """The index the next page's SELECT reads, and what else the plan does (MySQL's Extra,
    SQLite's whole plan), its statistics fresh."""
    sql, params = event_list_statement(
        limit=101, since=T0 + timedelta(seconds=10), after=after, **filters
    )
    with connection.cursor() as cursor:
        if connection.vendor == "mysql":
            cursor.execute("ANALYZE TABLE events_event")
            cursor.fetchall()
            cursor.execute(f"EXPLAIN {sql}", params)
            columns = [column[0] for column in cursor.description]
            plan = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
            assert len(plan) == 1
            return plan[0]["key"], plan[0]["Extra"] or ""
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = " | ".join(row[-1] for row in cursor.fetchall())
        return plan.split("USING INDEX ")[1].split(" ")[0], plan


def _events_stored(count: int, status_of: Callable[[int], str]) -> None:
    profiles = [ProfileFactory() for _ in range(20)]
    Event.objects.bulk_create(
        Event(
            id=uuid.UUID(int=n + 1),  # the same table, so the same statistics, run after run
            event_name=f"Metric {n % 25}",
            profile=profiles[n % 20],
            email=profiles[n % 20].email,
            sync_status=status_of(n),
            created_at=T0 + timedelta(seconds=n),
        )
        for n in range(count)
    )


# ANALYZE TABLE commits on MySQL: a transactional test cleans up after it, a rolled-back one
# would leave its rows to the next tests.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({}, "event_created_at"),
        ({"sync_status": "failed"}, "event_status_created"),
        ({"metric": "Metric 3"}, "event_name_created"),
        ({"metric": "Metric 3", "sync_status": "failed"}, "event_name_status_created"),
        ({"email": "a@example.com"}, "event_email_created"),
        ({"email": "a@example.com", "metric": "Metric 3"}, "event_email_created"),
    ],
)
def test_each_filter_reads_an_index_in_order_without_sorting(
    filters: dict[str, str], index: str
) -> None:
    # Enough rows over enough values that a full scan would not be the cheaper plan.
    _events_stored(2000, lambda n: SyncStatus.values[n % 4])

    used, plan = _page_plan(filters, EventPosition(T0 + timedelta(seconds=1500), uuid.UUID(int=0)))

    assert used == index
    assert "filesort" not in plan
    # SQLite's index holds its rowid, not the UUID id: it may sort the events that share a
    # createdAt ("RIGHT PART OF ORDER BY"), never the whole match.
    assert "TEMP B-TREE FOR ORDER BY" not in plan


@pytest.mark.django_db(transaction=True)
def test_a_rare_status_pages_through_its_own_index_not_every_event() -> None:
    # 1 event in 50 failed, as in a healthy account. Left to choose, MariaDB read the next page
    # of this table through event_status_requeue, sorting every failed event before it; of 1M
    # events, through event_created_at, reading each row to check its status (50 rows read for
    # each one answered: 300-500 ms a page).
    _events_stored(5000, lambda n: SyncStatus.FAILED if n % 50 == 0 else SyncStatus.SENT)

    used, plan = _page_plan(
        {"sync_status": "failed"}, EventPosition(T0 + timedelta(seconds=4900), uuid.UUID(int=0))
    )

    assert used == "event_status_created"
    assert "filesort" not in plan
    assert "TEMP B-TREE FOR ORDER BY" not in plan
