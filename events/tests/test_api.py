import pytest

from events.models import Event, Profile

pytestmark = pytest.mark.django_db

PURCHASE = {
    "eventName": "Purchase",
    "eventAttributes": {"amount": 99.99, "currency": "USD"},
    "profileAttributes": {"firstName": "John", "lastName": "Doe"},
    "email": "john.doe@example.com",
}


def test_it_stores_an_event_and_its_profile(api_client):
    response = api_client.post("/events", PURCHASE, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["eventName"] == "Purchase"
    assert body["eventAttributes"] == {"amount": 99.99, "currency": "USD"}
    assert body["profileAttributes"] == {"firstName": "John", "lastName": "Doe"}
    assert body["email"] == "john.doe@example.com"
    assert body["sentToKlaviyo"] is False
    assert body["klaviyoResponse"] is None
    assert body["createdAt"].endswith("Z")
    event = Event.objects.get(pk=body["id"])
    assert event.profile.email == "john.doe@example.com"
    assert event.profile.attributes == {"firstName": "John", "lastName": "Doe"}


def test_it_rejects_an_invalid_email(api_client):
    response = api_client.post("/events", {**PURCHASE, "email": "not-an-email"}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "statusCode": 400,
        "message": ["email must be a valid email"],
        "error": "Bad Request",
    }
    assert Event.objects.count() == 0
    assert Profile.objects.count() == 0
