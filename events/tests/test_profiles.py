"""A profile's attributes are the merge of everything sent for it (RFC 7396): new keys are
added, changed keys replaced, nested objects merged, arrays replaced, null removes a key."""

from datetime import timedelta

import pytest
from django.utils import timezone

from events.models import Event, Profile, SyncStatus
from events.tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db

EMAIL = "ann@example.com"


def send(client, attributes: dict, **fields):
    sent = {"eventName": "Update", "email": EMAIL, "profileAttributes": attributes, **fields}
    response = client.post("/events", sent, format="json")
    assert response.status_code == 201, response.json()
    return response


def stored_attributes() -> dict:
    return Profile.objects.get(email=EMAIL).attributes


def test_new_attributes_merge_over_old_ones(api_client):
    send(api_client, {"firstName": "Ann", "lastName": "Lee"})
    send(api_client, {"lastName": "Smith", "plan": "pro"})

    assert stored_attributes() == {"firstName": "Ann", "lastName": "Smith", "plan": "pro"}
    assert Profile.objects.count() == 1


def test_nested_objects_merge(api_client):
    send(api_client, {"address": {"city": "Oslo", "zip": "0150", "geo": {"lat": 59.9}}})
    send(api_client, {"address": {"zip": "0151", "geo": {"lon": 10.7}}})

    assert stored_attributes() == {
        "address": {"city": "Oslo", "zip": "0151", "geo": {"lat": 59.9, "lon": 10.7}}
    }


def test_null_removes_a_key_at_any_depth(api_client):
    send(api_client, {"a": 1, "b": 2, "nested": {"keep": 1, "drop": 2}})
    send(api_client, {"b": None, "nested": {"drop": None}})

    assert stored_attributes() == {"a": 1, "nested": {"keep": 1}}


def test_null_on_a_new_profile_is_not_stored(api_client):
    send(api_client, {"a": 1, "gone": None, "nested": {"gone": None}})

    assert stored_attributes() == {"a": 1, "nested": {}}


def test_arrays_and_scalars_are_replaced_not_merged(api_client):
    send(api_client, {"tags": ["a", "b"], "score": {"v": 1}})
    send(api_client, {"tags": ["c"], "score": 5})

    assert stored_attributes() == {"tags": ["c"], "score": 5}


def test_the_event_keeps_the_attributes_as_sent(api_client):
    send(api_client, {"a": 1})
    response = send(api_client, {"a": None, "b": 2})

    event = Event.objects.get(pk=response.json()["id"])
    assert event.profile_attributes == {"a": None, "b": 2}
    assert response.json()["profileAttributes"] == {"a": None, "b": 2}


def test_an_event_without_profile_attributes_leaves_them_alone(api_client):
    send(api_client, {"a": 1})
    api_client.post("/events", {"eventName": "Ping", "email": EMAIL}, format="json")

    assert stored_attributes() == {"a": 1}


def test_a_changed_profile_is_pending_sync_again_and_keeps_its_creation_time(api_client, settings):
    settings.KLAVIYO_API_KEY = "pk_test"  # else it is `skipped`
    created = timezone.now() - timedelta(days=1)
    profile = ProfileFactory(
        email=EMAIL,
        attributes={"a": 1},
        sync_status=SyncStatus.SENT,
        klaviyo_id="01ABC",
        created_at=created,
        updated_at=created,
    )

    send(api_client, {"b": 2})

    profile.refresh_from_db()
    assert profile.attributes == {"a": 1, "b": 2}
    assert profile.sync_status == SyncStatus.PENDING
    assert profile.klaviyo_id == "01ABC"
    assert profile.created_at == created
    assert profile.updated_at > created


def test_phone_and_external_id_are_kept_when_a_later_event_omits_them(api_client):
    send(api_client, {"phoneNumber": "+15005550006", "externalId": "u-1"})
    send(api_client, {"plan": "pro"})

    profile = Profile.objects.get()
    assert (profile.phone_number, profile.external_id) == ("+15005550006", "u-1")
    assert profile.attributes == {"phoneNumber": "+15005550006", "externalId": "u-1", "plan": "pro"}


def test_an_uppercase_email_updates_the_same_profile(api_client):
    send(api_client, {"a": 1})
    send(api_client, {"b": 2}, email="ANN@Example.com")

    assert Profile.objects.count() == 1
    assert stored_attributes() == {"a": 1, "b": 2}


def test_one_batch_merges_its_events_in_order_over_the_stored_profile(api_client):
    ProfileFactory(email=EMAIL, attributes={"keep": 1, "drop": 2, "deep": {"x": 1, "y": 2}})
    events = [
        {"eventName": "A", "email": EMAIL, "profileAttributes": {"n": 1, "deep": {"y": None}}},
        {"eventName": "B", "email": EMAIL, "profileAttributes": {"n": 2, "drop": None}},
        {"eventName": "C", "email": EMAIL, "profileAttributes": {"deep": {"z": 3}}},
    ]

    response = api_client.post("/events/bulk", {"events": events}, format="json")

    assert response.status_code == 201
    assert stored_attributes() == {"keep": 1, "n": 2, "deep": {"x": 1, "z": 3}}


def test_without_a_klaviyo_key_profiles_are_skipped_and_a_new_one_says_why(api_client):
    ProfileFactory(email=EMAIL, attributes={"a": 1}, sync_status=SyncStatus.SENT)

    send(api_client, {"b": 2})
    api_client.post("/events", {"eventName": "Ping", "email": "new@example.com"}, format="json")

    assert Profile.objects.get(email=EMAIL).sync_status == SyncStatus.SKIPPED
    new = Profile.objects.get(email="new@example.com")
    assert (new.sync_status, new.last_error) == (
        SyncStatus.SKIPPED,
        "Not sent: KLAVIYO_API_KEY is not configured",
    )
