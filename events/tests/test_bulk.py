"""POST /events/bulk: the answer, all-or-nothing validation, uniqueIds, profiles, query count."""

import pytest

from events.models import Event, Profile
from events.tests.factories import EventFactory, ProfileFactory

pytestmark = pytest.mark.django_db


def event(index: int, **fields) -> dict:
    return {"eventName": "Page View", "email": f"user{index}@example.com", **fields}


def post_bulk(client, events: list[dict]):
    return client.post("/events/bulk", {"events": events}, format="json")


def assert_nothing_stored() -> None:
    assert Event.objects.count() == 0
    assert Profile.objects.count() == 0


def test_it_stores_a_batch_and_answers_each_event_in_input_order(api_client, settings):
    settings.KLAVIYO_API_KEY = "pk_test"  # else they are stored `skipped`
    sent = [
        event(1, eventName="Page View"),
        event(2, eventName="Add to Cart", uniqueId="cart-2"),
        event(3, eventName="Purchase", value=42.5, time="2025-09-15T10:00:00Z"),
    ]

    response = post_bulk(api_client, sent)

    assert response.status_code == 201
    body = response.json()
    assert (body["count"], body["created"]) == (3, 3)
    assert [set(item) for item in body["events"]] == [
        {"id", "uniqueId", "syncStatus", "duplicate"}
    ] * 3
    assert [item["uniqueId"] for item in body["events"]] == [None, "cart-2", None]
    assert [item["syncStatus"] for item in body["events"]] == ["pending"] * 3
    assert [item["duplicate"] for item in body["events"]] == [False] * 3
    stored = [Event.objects.get(pk=item["id"]) for item in body["events"]]
    assert [e.event_name for e in stored] == ["Page View", "Add to Cart", "Purchase"]
    assert [e.email for e in stored] == [f"user{i}@example.com" for i in (1, 2, 3)]
    assert stored[1].unique_id == "cart-2"
    assert stored[2].value == 42.5
    assert stored[2].time.isoformat() == "2025-09-15T10:00:00+00:00"
    assert Profile.objects.count() == 3
    assert all(e.profile.email == e.email for e in stored)


def test_bulk_events_read_back_like_single_ones(api_client):
    body = post_bulk(api_client, [event(1, eventAttributes={"a": {"b": [1, "x"]}})]).json()

    stored = api_client.post("/events", event(9), format="json")  # the same row shape
    bulk_event = Event.objects.get(pk=body["events"][0]["id"])
    single_event = Event.objects.get(pk=stored.json()["id"])

    assert bulk_event.event_attributes == {"a": {"b": [1, "x"]}}
    assert bulk_event.profile_attributes == {}
    assert (bulk_event.sync_status, bulk_event.attempts, bulk_event.last_error) == (
        single_event.sync_status,
        single_event.attempts,
        single_event.last_error,
    )
    assert bulk_event.klaviyo_response is None
    assert bulk_event.created_at is not None


def test_it_stores_1000_events(api_client):
    response = post_bulk(api_client, [event(i % 50, uniqueId=f"k{i}") for i in range(1000)])

    assert response.status_code == 201
    assert response.json()["count"] == 1000
    assert Event.objects.count() == 1000
    assert Profile.objects.count() == 50


def test_it_refuses_1001_events_and_stores_nothing(api_client):
    response = post_bulk(api_client, [event(i) for i in range(1001)])

    assert response.status_code == 400
    assert response.json() == {
        "statusCode": 400,
        "message": ["events must hold at most 1000 events"],
        "error": "Bad Request",
    }
    assert_nothing_stored()


def test_the_limit_is_the_bulk_max_events_setting(api_client, settings):
    settings.BULK_MAX_EVENTS = 2

    refused = post_bulk(api_client, [event(1), event(2), event(3)])
    accepted = post_bulk(api_client, [event(1), event(2)])

    assert refused.json()["message"] == ["events must hold at most 2 events"]
    assert accepted.status_code == 201
    assert Event.objects.count() == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"events": []}, "events must hold at least one event"),
        ({}, "events is required"),
        ({"events": None}, "events must not be null"),
        ({"events": {"eventName": "x"}}, "events must be an array"),
        ([event(1)], "request body must be a JSON object"),
    ],
)
def test_it_refuses_a_batch_that_is_not_a_list_of_events(api_client, body, message):
    response = api_client.post("/events/bulk", body, format="json")

    assert response.status_code == 400
    assert response.json()["message"] == [message]
    assert_nothing_stored()


def test_a_bad_item_fails_the_whole_batch_naming_every_bad_index(api_client):
    sent = [
        event(0),
        event(1, email="not-an-email"),
        event(2),
        {"time": "yesterday", "email": "x@example.com"},
        "not an event",
        {"eventName": "No identifier"},
        {"eventName": "E6", "profileAttributes": {"phoneNumber": "+15005550006", "email": "x@"}},
    ]

    response = post_bulk(api_client, sent)

    assert response.status_code == 400
    assert response.json()["message"] == [
        "events.1.email must be a valid email",
        "events.3.eventName is required",
        "events.3.time must be an ISO-8601 date-time, like 2025-09-15T10:00:00Z",
        "events.4 must be a JSON object",
        "events.5: an event needs email, profileAttributes.phoneNumber, "
        "profileAttributes.externalId or profileAttributes.anonymousId",
        "events.6.profileAttributes.email must be a valid email",
    ]
    assert_nothing_stored()


def test_duplicate_unique_ids_inside_a_batch_make_one_row(api_client):
    sent = [
        event(1, uniqueId="k1"),
        event(1, uniqueId="k1", profileAttributes={"plan": "pro"}),
        event(1, uniqueId="k2"),
    ]

    body = post_bulk(api_client, sent).json()

    assert (body["count"], body["created"]) == (3, 2)
    first, repeat, other = body["events"]
    assert repeat["id"] == first["id"]
    assert [first["duplicate"], repeat["duplicate"], other["duplicate"]] == [False, True, False]
    assert Event.objects.count() == 2
    # The repeat changed nothing: its attributes were not merged.
    assert Profile.objects.get().attributes == {}


def test_a_unique_id_of_another_metric_or_profile_is_a_new_event(api_client):
    sent = [
        event(1, eventName="Placed Order", uniqueId="order-1001"),
        event(1, eventName="Fulfilled Order", uniqueId="order-1001"),
        event(2, eventName="Placed Order", uniqueId="order-1001"),
    ]

    body = post_bulk(api_client, sent).json()

    assert (body["count"], body["created"]) == (3, 3)
    assert len({item["id"] for item in body["events"]}) == 3
    assert sorted(Event.objects.values_list("email", "event_name")) == [
        ("user1@example.com", "Fulfilled Order"),
        ("user1@example.com", "Placed Order"),
        ("user2@example.com", "Placed Order"),
    ]


def test_unique_ids_stored_earlier_are_not_stored_again(api_client):
    single = api_client.post("/events", event(1, uniqueId="k1"), format="json").json()
    first = post_bulk(api_client, [event(1, uniqueId="k2")]).json()

    second = post_bulk(api_client, [event(1, uniqueId="k1"), event(1, uniqueId="k2")]).json()
    third = post_bulk(api_client, [event(1, uniqueId="k2"), event(1, uniqueId="k3")]).json()

    assert second["created"] == 0
    assert [item["id"] for item in second["events"]] == [single["id"], first["events"][0]["id"]]
    assert all(item["duplicate"] for item in second["events"])
    assert third["created"] == 1
    assert third["events"][0]["id"] == first["events"][0]["id"]
    assert Event.objects.count() == 3
    assert sorted(Event.objects.values_list("unique_id", flat=True)) == ["k1", "k2", "k3"]


def test_case_variants_of_a_unique_id_are_two_events(api_client):
    # Klaviyo's unique_id is case-sensitive; MariaDB's key column is binary (migration 0003).
    body = post_bulk(api_client, [event(1, uniqueId="K1"), event(2, uniqueId="k1")]).json()

    ids = {item["id"] for item in body["events"]}
    assert body["created"] == 2
    assert Event.objects.filter(pk__in=ids).count() == len(ids) == 2


def test_events_of_one_email_make_one_profile_with_merged_attributes(api_client):
    ProfileFactory(email="ann@example.com", attributes={"plan": "free", "city": "Oslo"})
    sent = [
        {"eventName": "A", "email": "ann@example.com", "profileAttributes": {"plan": "pro"}},
        {"eventName": "B", "email": "ANN@example.com", "profileAttributes": {"age": 30}},
        {"eventName": "C", "email": "ann@example.com", "profileAttributes": {"city": None}},
    ]

    response = post_bulk(api_client, sent)

    assert response.status_code == 201
    profile = Profile.objects.get()
    assert profile.attributes == {"plan": "pro", "age": 30}
    assert profile.events.count() == 3


def test_a_batch_takes_a_small_constant_number_of_queries(
    api_client, django_assert_max_num_queries
):
    # One earlier event, so the duplicate path runs too.
    EventFactory(
        profile=ProfileFactory(email="user0@example.com"), event_name="Page View", unique_id="k0"
    )
    sent = [event(i, uniqueId=f"k{i}", profileAttributes={"n": i}) for i in range(1000)]

    # Read earlier keys, upsert profiles, read their ids, insert events (+ savepoint, release).
    with django_assert_max_num_queries(8):
        response = post_bulk(api_client, sent)

    assert response.status_code == 201
    assert response.json()["created"] == 999
    assert Event.objects.count() == 1000


def test_it_works_with_a_trailing_slash(api_client):
    response = api_client.post("/events/bulk/", {"events": [event(1)]}, format="json")

    assert response.status_code == 201
    assert Event.objects.count() == 1
