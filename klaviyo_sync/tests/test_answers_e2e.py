"""End to end: events posted to the service, synced (eager tasks) to the Klaviyo emulator running
in a thread, then read through both paths: Klaviyo's answers and the local ones must agree."""

import pytest

from events.models import Event, SyncStatus
from klaviyo_sync.tests.conftest import klaviyo_is

pytestmark = pytest.mark.django_db

EVENTS = [
    # New York's 2025-11-02 is 25 hours: 04:00Z to 05:00Z the next day.
    {"eventName": "Purchase", "email": "ann@x.com", "time": "2025-11-02T03:30:00Z", "value": 5},
    {"eventName": "Purchase", "email": "ann@x.com", "time": "2025-11-02T12:00:00Z"},
    {"eventName": "Page View", "email": "ann@x.com", "time": "2025-11-02T13:00:00Z"},
    {
        "eventName": "Purchase",
        "email": "Bob@x.com",
        "time": "2025-11-03T04:30:00Z",
        "profileAttributes": {"firstName": "Bob", "plan": "pro"},
    },
    {"eventName": "Purchase", "email": "carol@x.com", "time": "2025-11-02T23:00:00Z"},
    {"eventName": "Purchase", "email": "dan@x.com", "time": "2025-11-02T00:00:00Z"},
]
READS = [
    ("/events/metrics", {}),
    ("/events/count", {"metric": "Purchase", "date": "2025-11-02"}),
    ("/events/count", {"metric": "Purchase", "date": "2025-11-02", "tz": "America/New_York"}),
    ("/events/count", {"metric": "Page View", "date": "2025-11-02"}),
    ("/events/emails", {"metric": "Purchase", "date": "2025-11-02", "limit": 2}),
    ("/events/emails", {"metric": "Purchase", "date": "2025-11-02", "tz": "America/New_York"}),
    ("/events/profiles/bob@x.com/attributes", {}),
    ("/events/profiles/ann@x.com/metrics", {}),
]


@pytest.fixture
def klaviyo(emulator, settings):
    return klaviyo_is(emulator, settings)


def read(client, path: str, query: dict) -> dict:
    response = client.get(path, query)
    assert response.status_code == 200, response.content
    return response.json()


def test_events_synced_to_klaviyo_read_the_same_through_both_paths(
    api_client, klaviyo, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/events/bulk", {"events": EVENTS}, format="json")
    assert response.status_code == 201
    assert set(Event.objects.values_list("sync_status", flat=True)) == {SyncStatus.SENT}

    from_klaviyo = [read(api_client, path, query) for path, query in READS]
    settings.KLAVIYO_API_KEY = ""
    from_local = [read(api_client, path, query) for path, query in READS]

    assert [body.pop("source") for body in from_klaviyo] == ["klaviyo"] * len(READS)
    assert [body.pop("source") for body in from_local] == ["local"] * len(READS)
    assert from_klaviyo == from_local
    assert [body["count"] for body in from_local[1:4]] == [4, 3, 1]
    assert from_local[4]["emails"] == ["ann@x.com", "carol@x.com"]
    assert from_local[5]["emails"] == ["ann@x.com", "bob@x.com", "carol@x.com"]
    assert from_local[6]["attributes"] == {"firstName": "Bob", "plan": "pro"}
    assert from_local[6]["klaviyoId"]


def test_the_next_page_of_emails_agrees_too(
    api_client, klaviyo, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        api_client.post("/events/bulk", {"events": EVENTS}, format="json")
    query = {"metric": "Purchase", "date": "2025-11-02", "limit": 2}
    first_page = read(api_client, "/events/emails", query)
    cursor = first_page["nextCursor"]

    second_klaviyo = read(api_client, "/events/emails", {**query, "cursor": cursor})
    settings.KLAVIYO_API_KEY = ""
    second_local = read(api_client, "/events/emails", {**query, "cursor": cursor})

    assert first_page["source"] == second_klaviyo["source"] == "klaviyo"
    assert second_klaviyo["emails"] == second_local["emails"] == ["dan@x.com"]
    assert second_klaviyo["nextCursor"] is second_local["nextCursor"] is None
