"""POST /events and /events/bulk refuse what Klaviyo would refuse for certain (it used to be
stored and fail at send time), and what they accept at the limits Klaviyo's mapping sends."""

import pytest

from events.models import Event, Profile
from klaviyo_client import mapping, profiles

pytestmark = pytest.mark.django_db

EVENT = {"eventName": "Purchase", "email": "ann@example.com"}
KB100 = 100 * 1024
OVER_100KB = "ab🙂" * 17_067  # 51,201 characters, 102,402 bytes of UTF-8
STRING_LIMIT = "must be at most 100 KB (102400 bytes of UTF-8): Klaviyo's limit for a string"


def error(*messages: str) -> dict:
    return {"statusCode": 400, "message": list(messages), "error": "Bad Request"}


def assert_nothing_stored() -> None:
    assert Event.objects.count() == 0
    assert Profile.objects.count() == 0


def assert_sendable(event: Event) -> None:
    """Klaviyo's mapping, the last line of defence, takes the stored event and its profile."""
    profile = event.profile
    resource = profiles.profile_resource(
        profile_row={
            "email": profile.email,
            "phone_number": profile.phone_number,
            "external_id": profile.external_id,
            "attributes": profile.attributes,
        }
    )
    row = {f: getattr(event, f) for f in ("event_name", "event_attributes", "time", "value")}
    mapping.event_resource(event_row={**row, "id": event.id}, profile=resource)


def test_it_refuses_an_event_name_of_128_characters(api_client):
    response = api_client.post("/events", {**EVENT, "eventName": "é" * 128}, format="json")

    assert response.status_code == 400
    assert response.json() == error(
        "eventName must be at most 127 characters: Klaviyo's limit for a metric name"
    )
    assert_nothing_stored()


def test_it_names_the_place_of_a_string_over_100kb(api_client):
    attributes = {"items": [{"sku": "A-1"}, {"sku": "B-2", "html": OVER_100KB}]}

    response = api_client.post("/events", {**EVENT, "eventAttributes": attributes}, format="json")

    assert response.status_code == 400
    assert response.json() == error(f"eventAttributes.items.1.html {STRING_LIMIT}")
    assert_nothing_stored()


def test_it_cuts_a_long_key_it_names(api_client):
    key = "k" * 1000
    sent = {**EVENT, "profileAttributes": {"notes": {key: OVER_100KB}}}

    response = api_client.post("/events", sent, format="json")

    assert response.json() == error(f"profileAttributes.notes.{'k' * 40}… {STRING_LIMIT}")
    assert_nothing_stored()


def test_it_refuses_an_array_over_4000_items_and_stores_one_of_4000(api_client):
    refused = api_client.post(
        "/events", {**EVENT, "eventAttributes": {"ids": list(range(4001))}}, format="json"
    )
    assert refused.json() == error(
        "eventAttributes.ids must hold at most 4000 items: Klaviyo's limit"
    )
    assert_nothing_stored()

    stored = api_client.post(
        "/events", {**EVENT, "eventAttributes": {"ids": list(range(4000))}}, format="json"
    )

    assert stored.status_code == 201
    assert Event.objects.get().event_attributes == {"ids": list(range(4000))}
    assert_sendable(Event.objects.get())


def test_it_refuses_attributes_over_5mb_together(api_client):
    # 3 MB of event properties and 2.1 MB of profile attributes: each string within limits.
    chunk = "x" * KB100
    sent = {
        **EVENT,
        "eventAttributes": {f"e{i}": chunk for i in range(30)},
        "profileAttributes": {f"p{i}": chunk for i in range(21)},
    }

    response = api_client.post("/events", sent, format="json")

    assert response.status_code == 400
    assert response.json() == error(
        "eventAttributes and profileAttributes must be at most 5 MB (5000000 bytes of JSON) "
        "together: Klaviyo's limit for an event"
    )
    assert_nothing_stored()


def test_it_stores_attributes_just_under_5mb_that_klaviyo_takes(api_client):
    chunk = "x" * KB100  # 4.9 MB in all: far over the cheap bound, under the exact size
    sent = {
        **EVENT,
        "eventAttributes": {f"e{i}": chunk for i in range(30)},
        "profileAttributes": {f"p{i}": chunk for i in range(17)},
    }

    response = api_client.post("/events", sent, format="json")

    assert response.status_code == 201
    event = Event.objects.get()
    assert len(event.event_attributes) == 30
    assert len(event.profile.attributes) == 17
    assert_sendable(event)


def test_it_refuses_a_snake_case_phone_number_not_in_e164(api_client):
    sent = {**EVENT, "profileAttributes": {"phone_number": "0612345678"}}

    response = api_client.post("/events", sent, format="json")

    assert response.json() == error(
        "profileAttributes.phone_number must be in E.164 format, like +15005550006"
    )
    assert_nothing_stored()


def test_it_refuses_standard_attributes_that_are_not_text(api_client):
    sent = {
        **EVENT,
        "profileAttributes": {
            "firstName": {"given": "Ann"},
            "organization": True,
            "city": ["Oslo"],
            "location": {"latitude": False, "region": {"code": "03"}},
            "favourites": {"any": ["shape"]},  # a custom property: anything goes
        },
    }

    response = api_client.post("/events", sent, format="json")

    assert response.status_code == 400
    assert response.json() == error(
        "profileAttributes.firstName must be a string or a number: Klaviyo takes firstName as text",
        "profileAttributes.organization must be a string or a number: "
        "Klaviyo takes organization as text",
        "profileAttributes.city must be a string or a number: Klaviyo takes city as text",
        "profileAttributes.location.latitude must be a string or a number: "
        "Klaviyo takes latitude as a number",
        "profileAttributes.location.region must be a string or a number: "
        "Klaviyo takes region as text",
    )
    assert_nothing_stored()


def test_it_stores_standard_attributes_given_as_numbers_or_null(api_client):
    attributes = {"firstName": 42, "zip": 10017, "latitude": 40.7, "lastName": None}

    response = api_client.post("/events", {**EVENT, "profileAttributes": attributes}, format="json")

    assert response.status_code == 201
    assert Profile.objects.get().attributes == {"firstName": 42, "zip": 10017, "latitude": 40.7}
    assert_sendable(Event.objects.get())


def test_a_bulk_names_each_item_over_a_limit_and_stores_nothing(api_client):
    events = [
        EVENT,
        {**EVENT, "eventName": "n" * 128},
        {**EVENT, "eventAttributes": {"html": OVER_100KB}},
        {**EVENT, "profileAttributes": {"phone_number": "12"}},
    ]

    response = api_client.post("/events/bulk", {"events": events}, format="json")

    assert response.status_code == 400
    assert response.json() == error(
        "events.1.eventName must be at most 127 characters: Klaviyo's limit for a metric name",
        f"events.2.eventAttributes.html {STRING_LIMIT}",
        "events.3.profileAttributes.phone_number must be in E.164 format, like +15005550006",
    )
    assert_nothing_stored()


def test_an_event_at_every_limit_is_stored_and_sendable(api_client):
    at_limit = "ab🙂" * 17_066  # 102,396 bytes
    sent = {
        **EVENT,
        "eventName": "m" * 127,
        "eventAttributes": {"html": at_limit, "ids": list(range(4000))},
        "profileAttributes": {"biography": at_limit, "phone_number": "+15005550006"},
        "time": "2000-01-01T00:00:00Z",
    }

    response = api_client.post("/events", sent, format="json")

    assert response.status_code == 201
    assert_sendable(Event.objects.get())
