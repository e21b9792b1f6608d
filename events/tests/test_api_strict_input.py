"""Unknown properties of a request body are refused, as the replaced service refused them: a
typo such as `unique_id` would otherwise lose the client's idempotency without a word."""

import pytest

from cleanup.models import PurgeRun
from events.models import Event, Profile

pytestmark = pytest.mark.django_db

PURCHASE = {"eventName": "Purchase", "email": "ann@example.com"}


def error(*messages: str) -> dict:
    return {"statusCode": 400, "message": list(messages), "error": "Bad Request"}


def test_it_refuses_an_event_with_an_unknown_property(api_client):
    response = api_client.post("/events", {**PURCHASE, "unique_id": "ord-9"}, format="json")

    assert response.status_code == 400
    assert response.json() == error("property unique_id should not exist")
    assert Event.objects.count() == Profile.objects.count() == 0


def test_it_names_every_unknown_property_with_the_other_problems(api_client):
    sent = {"eventName": "", "email": "ann@example.com", "eventname": "x", "Value": 3}

    response = api_client.post("/events", sent, format="json")

    assert response.json()["message"] == [
        "eventName must not be empty",
        "property eventname should not exist",
        "property Value should not exist",
    ]


def test_attribute_objects_stay_free_form(api_client):
    sent = {
        **PURCHASE,
        "eventAttributes": {"unique_id": "x", "anything": {"nested": 1}},
        "profileAttributes": {"favouriteColour": "green"},
    }

    response = api_client.post("/events", sent, format="json")

    assert response.status_code == 201
    assert Event.objects.get().event_attributes == sent["eventAttributes"]


def test_a_bulk_request_names_the_index_of_an_event_with_an_unknown_property(api_client):
    events = [PURCHASE, {**PURCHASE, "unique_id": "ord-9"}, {**PURCHASE, "email": "bad"}]

    response = api_client.post("/events/bulk", {"events": events}, format="json")

    assert response.status_code == 400
    assert response.json() == error(
        "events.1.property unique_id should not exist", "events.2.email must be a valid email"
    )
    assert Event.objects.count() == 0


def test_a_bulk_body_with_an_unknown_property_is_refused(api_client):
    response = api_client.post(
        "/events/bulk", {"events": [PURCHASE], "dryRun": True}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == error("property dryRun should not exist")
    assert Event.objects.count() == 0


def test_a_bulk_body_reports_an_unknown_property_with_its_other_problems(api_client):
    response = api_client.post("/events/bulk", {"event": [PURCHASE]}, format="json")

    assert response.json() == error("events is required", "property event should not exist")


def test_a_manual_purge_with_an_unknown_property_deletes_nothing(api_client):
    response = api_client.post("/cleanup/manual", {"dry_run": True}, format="json")

    assert response.status_code == 400
    assert response.json() == error("property dry_run should not exist")
    assert PurgeRun.objects.count() == 0


def test_a_sync_test_with_an_unknown_property_sends_nothing(api_client, settings):
    settings.KLAVIYO_API_KEY = "pk_test"  # without a key it would answer 503 before sending

    response = api_client.post("/klaviyo/sync-test", {"event_name": "X"}, format="json")

    assert response.status_code == 400
    assert response.json() == error("property event_name should not exist")


def test_a_long_unknown_name_is_cut_in_the_message(api_client):
    response = api_client.post("/events", {**PURCHASE, "k" * 100: 1}, format="json")

    assert response.json() == error(f"property {'k' * 40}… should not exist")
