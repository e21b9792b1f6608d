"""Mapping our events and profiles to Klaviyo's bodies, and the checks of what it would reject."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from klaviyo_client import mapping, profiles


def profile(**attributes):
    return profiles.profile_attributes(
        email="ann@example.com", phone_number=None, external_id=None, attributes=attributes
    )


def event_row(**changes):
    row = {
        "id": uuid.UUID("8f7b6c1e-2b1a-4c55-9a57-3f0f3f4b9a10"),
        "event_name": "Purchase",
        "event_attributes": {"amount": 99.99},
        "time": datetime(2025, 9, 15, 10, 0, tzinfo=UTC),
        "value": None,
        "unique_id": None,
    }
    row.update(changes)
    return row


def test_it_maps_camel_case_keys_to_klaviyo_standard_attributes():
    mapped = profile(
        firstName="Ann",
        lastName="Lee",
        phoneNumber="+15005550006",
        externalId="u-1",
        organization="Acme",
        title="CTO",
        image="https://example.com/a.png",
        locale="en-US",
    )

    assert mapped == {
        "email": "ann@example.com",
        "first_name": "Ann",
        "last_name": "Lee",
        "phone_number": "+15005550006",
        "external_id": "u-1",
        "organization": "Acme",
        "title": "CTO",
        "image": "https://example.com/a.png",
        "locale": "en-US",
    }


def test_it_maps_location_keys_at_the_top_level_and_inside_location():
    mapped = profile(
        city="New York",
        zip=10017,
        location={"address1": "89 E 42nd St", "latitude": 40.7128, "longitude": "74.0060"},
    )

    assert mapped["location"] == {
        "city": "New York",
        "zip": "10017",
        "address1": "89 E 42nd St",
        "latitude": 40.7128,
        "longitude": "74.0060",
    }
    assert "properties" not in mapped


def test_every_other_key_goes_to_custom_properties():
    mapped = profile(plan="pro", tags=["a", "b"], location={"floor": 3}, nested={"x": 1})

    assert mapped["properties"] == {
        "plan": "pro",
        "tags": ["a", "b"],
        "location": {"floor": 3},
        "nested": {"x": 1},
    }


def test_the_profiles_own_identifiers_win_and_a_conflicting_one_is_kept_as_a_property():
    mapped = profiles.profile_attributes(
        email="ann@example.com",
        phone_number="+15005550006",
        external_id=None,
        attributes={"email": "other@example.com"},
    )

    assert mapped["email"] == "ann@example.com"
    assert mapped["phone_number"] == "+15005550006"
    assert mapped["properties"] == {"email": "other@example.com"}


@pytest.mark.parametrize(
    ("attributes", "reason"),
    [
        ({"firstName": {"a": 1}}, "profileAttributes.firstName must be a string, not dict"),
        ({"phoneNumber": "0612345678"}, "phoneNumber must be in E.164 format"),
        ({"phoneNumber": "+15005550006\n"}, "phoneNumber must be in E.164 format"),
        ({"phoneNumber": "+1500555000\u0666"}, "phoneNumber must be in E.164 format"),
        ({"location": {"city": ["x"]}}, "profileAttributes.location.city must be a string"),
        ({"bio": "x" * (100 * 1024 + 1)}, "a string is over Klaviyo's 100 KB limit"),
    ],
)
def test_it_rejects_profile_values_klaviyo_would_reject(attributes, reason):
    with pytest.raises(mapping.NotSendable, match=reason.replace(".", r"\.")):
        profile(**attributes)


def test_a_profile_needs_an_identifier():
    with pytest.raises(mapping.NotSendable, match="no email, phone number, external id"):
        profiles.profile_attributes(
            email=None, phone_number=None, external_id=None, attributes={"firstName": "A"}
        )


def test_an_anonymous_id_identifies_the_profile_of_an_event():
    mapped = profiles.profile_attributes(
        email=None,
        phone_number=None,
        external_id=None,
        attributes={"anonymousId": "anon-1", "locale": "fr-FR"},
    )

    assert mapped == {"anonymous_id": "anon-1", "locale": "fr-FR"}


def test_profile_import_takes_no_anonymous_id_since_2026_01_15():
    row = {"email": "ann@example.com", "attributes": {"anonymousId": "anon-1"}}

    imported = profiles.profile_resource(profile_row=row, in_event=False)

    assert imported["attributes"] == {"email": "ann@example.com"}
    with pytest.raises(mapping.NotSendable, match="an anonymous id is only for events"):
        profiles.profile_resource(
            profile_row={"attributes": {"anonymousId": "anon-1"}}, in_event=False
        )


def test_an_event_sends_its_value_currency():
    attributes = mapping.event_attributes(event_row=event_row(value=9.99, value_currency="EUR"))

    assert (attributes["value"], attributes["value_currency"]) == (9.99, "EUR")
    assert "value_currency" not in mapping.event_attributes(event_row=event_row(value=9.99))


def test_it_maps_an_event_with_its_own_time_value_and_unique_id():
    attributes = mapping.event_attributes(event_row=event_row(value=9.99, unique_id="order-1"))

    assert attributes == {
        "properties": {"amount": 99.99},
        "time": "2025-09-15T10:00:00+00:00",
        "value": 9.99,
        "unique_id": "order-1",
        "metric": {"data": {"type": "metric", "attributes": {"name": "Purchase"}}},
    }


def test_an_event_without_unique_id_uses_its_id_so_a_retry_never_counts_twice():
    attributes = mapping.event_attributes(event_row=event_row())

    assert attributes["unique_id"] == "8f7b6c1e-2b1a-4c55-9a57-3f0f3f4b9a10"
    assert "value" not in attributes


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"event_name": "x" * 128}, "eventName must be 1 to 127 characters"),
        ({"event_attributes": {f"k{i}": i for i in range(301)}}, "over 300 properties"),
        ({"event_attributes": {"html": "x" * 102401}}, "over Klaviyo's 100 KB limit"),
        ({"event_attributes": {"list": list(range(4001))}}, "over Klaviyo's 4000 items"),
        ({"time": datetime(1999, 12, 31, tzinfo=UTC)}, "time must be after 2000"),
        ({"time": datetime.now(UTC) + timedelta(days=400)}, "at most a year ahead"),
        ({"value": float("inf")}, "value must be a finite number"),
    ],
)
def test_it_rejects_event_values_klaviyo_would_reject(changes, reason):
    with pytest.raises(mapping.NotSendable, match=reason):
        mapping.event_attributes(event_row=event_row(**changes))


def test_it_rejects_attributes_nested_deeper_than_klaviyo_takes():
    deep: dict = {}
    node = deep
    for _ in range(11):
        node["x"] = {}
        node = node["x"]

    with pytest.raises(mapping.NotSendable, match="nested deeper"):
        mapping.event_attributes(event_row=event_row(event_attributes=deep))


def test_an_event_resource_carries_its_profile():
    resource = mapping.event_resource(
        event_row=event_row(), profile={"type": "profile", "attributes": {"email": "a@b.co"}}
    )

    assert resource["type"] == "event"
    assert resource["attributes"]["profile"] == {
        "data": {"type": "profile", "attributes": {"email": "a@b.co"}}
    }


def items(count, *, profile=b'{"type":"profile","attributes":{"email":"a@b.co"}}', size=10):
    for index in range(count):
        event = json.dumps({"type": "event", "attributes": {"pad": "x" * size}}).encode()
        yield uuid.uuid4(), f"u{index}-{uuid.uuid4()}", profile, event


def test_bulk_bodies_group_events_by_profile_and_parse_as_json_api():
    first = b'{"type":"profile","attributes":{"email":"a@b.co"}}'
    second = b'{"type":"profile","attributes":{"email":"b@b.co"}}'
    packed = mapping.bulk_requests(
        items=[*items(2, profile=first), *items(1, profile=second)],
        max_events=1000,
        max_bytes=5_000_000,
    )

    assert len(packed) == 1
    body = json.loads(packed[0].body)
    groups = body["data"]["attributes"]["events-bulk-create"]["data"]
    assert body["data"]["type"] == "event-bulk-create-job"
    assert [g["attributes"]["profile"]["data"]["attributes"]["email"] for g in groups] == [
        "a@b.co",
        "b@b.co",
    ]
    assert [len(g["attributes"]["events"]["data"]) for g in groups] == [2, 1]
    assert [len(ids) for ids in packed[0].groups] == [2, 1]


def test_bulk_bodies_hold_at_most_the_event_limit():
    packed = mapping.bulk_requests(items=items(2500), max_events=1000, max_bytes=5_000_000)

    assert [len(r.event_ids) for r in packed] == [1000, 1000, 500]
    assert all(json.loads(r.body) for r in packed)


def test_bulk_bodies_stay_under_the_byte_limit():
    packed = mapping.bulk_requests(items=items(50, size=1000), max_events=1000, max_bytes=20_000)

    assert len(packed) > 1
    assert all(len(r.body) <= 20_000 for r in packed)
    assert sum(len(r.event_ids) for r in packed) == 50
    assert all(json.loads(r.body) for r in packed)


def test_a_unique_id_never_repeats_within_one_bulk_body():
    profile_json = b'{"type":"profile","attributes":{"email":"a@b.co"}}'
    event = b'{"type":"event","attributes":{}}'
    same = [(uuid.uuid4(), "dup", profile_json, event) for _ in range(2)]

    packed = mapping.bulk_requests(items=same, max_events=1000, max_bytes=5_000_000)

    assert [len(r.event_ids) for r in packed] == [1, 1]


def test_bulk_error_pointers_name_the_rejected_events_and_profiles():
    packed = mapping.bulk_requests(
        items=[
            *items(2, profile=b'{"type":"profile","attributes":{"email":"a@b.co"}}'),
            *items(2, profile=b'{"type":"profile","attributes":{"email":"b@b.co"}}'),
        ],
        max_events=1000,
        max_bytes=5_000_000,
    )[0]
    base = "/data/attributes/events-bulk-create/data"
    errors = [
        {
            "title": "Invalid input.",
            "detail": "Bad time",
            "source": {"pointer": f"{base}/0/attributes/events/data/1/attributes/time"},
        },
        {
            "title": "Invalid input.",
            "detail": "Bad phone",
            "source": {"pointer": f"{base}/1/attributes/profile/data/attributes/phone_number"},
        },
        {"title": "Elsewhere", "source": {"parameter": "x"}},
    ]

    culprits, bad_profiles = mapping.bulk_error_targets(request=packed, errors=errors)

    assert set(culprits) == {packed.groups[0][1], *packed.groups[1]}
    assert culprits[packed.groups[0][1]].startswith("Invalid input. Bad time (")
    assert bad_profiles == {1}


def test_bodies_are_compact_utf8_json() -> None:
    body = mapping.dumps({"name": 'Zoë "Z"', "tags": ["a", 1, 2.5, None, True], "empty": {}})

    assert body == '{"name":"Zoë \\"Z\\"","tags":["a",1,2.5,null,true],"empty":{}}'.encode()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (float("nan"), "a number Klaviyo cannot take"),
        (float("-inf"), "a number Klaviyo cannot take"),
        ("x\ud800y", "text that is not valid Unicode"),
    ],
)
def test_a_value_json_cannot_carry_is_not_sendable(value: object, reason: str) -> None:
    with pytest.raises(mapping.NotSendable, match=reason):
        mapping.dumps({"properties": {"nested": [value]}})
