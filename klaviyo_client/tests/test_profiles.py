"""Profiles as Klaviyo resources: the changes an event carried, nulls that clear, custom
properties unset with meta where the revision puts it."""

import json

import pytest

from events.merge_patch import json_merge_patch, json_patches_combine
from klaviyo_client import profiles

ROW = {"id": 1, "email": "ann@example.com", "phone_number": None, "external_id": None}


def resource(changes, current=None, **kwargs):
    """By default the row holds what `changes` left of an empty profile."""
    row = {**ROW, "attributes": current if current is not None else json_merge_patch({}, changes)}
    return profiles.profile_resource(profile_row=row, changes=changes, **kwargs)


def test_it_sends_only_the_changes_and_the_identifiers():
    sent = resource({"plan": "pro"}, current={"firstName": "Ann", "plan": "pro", "city": "Oslo"})

    assert sent == {
        "type": "profile",
        "attributes": {"email": "ann@example.com", "properties": {"plan": "pro"}},
    }


def test_null_clears_a_standard_attribute_and_a_location_key():
    sent = resource({"firstName": None, "city": None, "location": {"zip": None, "region": "NY"}})

    assert sent["attributes"] == {
        "email": "ann@example.com",
        "first_name": None,
        "location": {"city": None, "zip": None, "region": "NY"},
    }
    assert "meta" not in sent


def test_null_removes_a_custom_property_with_unset_beside_the_attributes():
    sent = resource({"plan": None, "seats": None, "tier": 2})

    assert sent["attributes"] == {"email": "ann@example.com", "properties": {"tier": 2}}
    assert sent["meta"] == {"patch_properties": {"unset": ["plan", "seats"]}}


def test_each_key_goes_as_it_now_stands_not_as_the_change_had_it():
    """A change sent late (a retry) after a later one of the same keys went first."""
    sent = resource(
        {"plan": "free", "firstName": "Ann", "city": "Oslo", "tier": 1},
        current={"plan": "pro", "city": "Lyon"},
    )

    assert sent["attributes"] == {
        "email": "ann@example.com",
        "first_name": None,
        "location": {"city": "Lyon"},
        "properties": {"plan": "pro"},
    }
    assert sent["meta"] == {"patch_properties": {"unset": ["tier"]}}


def test_a_location_set_to_null_clears_every_location_key_null_can_clear():
    sent = resource({"location": None}, current={"firstName": "Ann"})

    cleared = profiles.LOCATION_ATTRIBUTES - profiles.UNCLEARABLE_LOCATION
    assert sent["attributes"]["location"] == dict.fromkeys(cleared)
    # Its custom keys (the custom property `location`) go too.
    assert sent["meta"] == {"patch_properties": {"unset": ["location"]}}


def test_a_location_replaced_in_one_change_clears_what_the_new_one_lacks():
    replaced = json_patches_combine({"location": None}, {"location": {"city": "Paris"}})

    sent = resource(replaced, current={"location": {"city": "Paris"}})

    location = sent["attributes"]["location"]
    assert location["city"] == "Paris" and location["zip"] is None
    assert "latitude" not in location  # a null Klaviyo's spec refuses


def test_a_latitude_set_to_null_is_left_out_rather_than_refused():
    sent = resource({"location": {"latitude": None, "zip": None}})

    assert sent["attributes"]["location"] == {"zip": None}


def test_a_null_identifier_leaves_the_profiles_own_identifiers():
    row = {**ROW, "phone_number": "+15005550006", "external_id": "x-1", "attributes": {}}
    changes = {"email": None, "externalId": None, "phoneNumber": None}

    sent = profiles.profile_resource(profile_row=row, changes=changes)

    assert sent["attributes"] == {
        "email": "ann@example.com",
        "phone_number": "+15005550006",
        "external_id": "x-1",
    }


def test_a_null_phone_number_or_external_id_the_profile_no_longer_has_is_cleared():
    """Else Klaviyo keeps the number on this person, and whoever gives it next is merged into
    them there."""
    sent = resource({"email": None, "externalId": None, "phoneNumber": None})

    assert sent["attributes"] == {
        "email": "ann@example.com",
        "phone_number": None,
        "external_id": None,
    }


def test_a_custom_object_goes_whole_as_merged_locally():
    # Klaviyo replaces a property's value; the nested merge was done here.
    current = {"prefs": {"colour": "green", "size": "M"}}

    sent = resource({"prefs": {"size": "M"}}, current=current)

    assert sent["attributes"]["properties"] == {"prefs": {"colour": "green", "size": "M"}}


@pytest.mark.parametrize(
    ("revision", "inside"),
    [("2026-07-15", True), ("2026-07-15.pre", True), ("2026-10-15", False)],
)
def test_an_events_profile_puts_meta_where_the_revision_wants_it(revision, inside):
    beside = resource({"plan": None})

    sent = profiles.event_profile(beside, revision=revision)

    unset = {"patch_properties": {"unset": ["plan"]}}
    if inside:
        assert sent["attributes"]["meta"] == unset and "meta" not in sent
    else:
        assert sent["meta"] == unset and "meta" not in sent["attributes"]


def test_an_event_profile_without_meta_is_left_as_is():
    plain = resource({"plan": "pro"})

    assert profiles.event_profile(plain, revision="2026-07-15") is plain


def _nested(levels: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(levels):
        value = {"in": value}
    return value


@pytest.mark.parametrize(
    "changes",
    [
        {"plan": "pro", "city": "Oslo", "prefs": {"tags": ["a", "b"]}},
        {"bio": "x" * (100 * 1024)},  # at the limit: long, yet no problem
        {"deep": _nested(8)},  # 10 levels down from the attributes: allowed, 12 brackets
        {"bio": "é" * (50 * 1024 + 1)},  # over 100 KB in UTF-8
        {"list": list(range(4001))},
        {"deep": _nested(9)},  # 11 levels down: refused
        {"text": "{[" * 20},  # brackets in a string: only the walk can tell
    ],
)
def test_a_resource_encoded_once_is_refused_as_the_walk_of_its_values_refuses_it(changes):
    row = {**ROW, "attributes": changes}
    try:
        expected = ("ok", resource(changes, current=changes, in_event=False))
    except profiles.NotSendable as problem:
        expected = ("refused", str(problem))

    try:
        built, body = profiles.profile_import_resource_encoded(profile_row=row, changes=changes)
        got = ("ok", built)
    except profiles.NotSendable as problem:
        got, body = ("refused", str(problem)), None

    assert got == expected
    if body is not None:
        assert json.loads(body) == built
