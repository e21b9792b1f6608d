"""X-API-Key: keys from API_KEYS or created in admin (hashed); 401 in the error shape."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from core.models import ApiKey
from events.models import Event

pytestmark = pytest.mark.django_db

EVENT = {"eventName": "Purchase", "email": "ann@example.com"}


def client_with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key)
    return client


@pytest.mark.parametrize("path", ["/events", "/events/bulk"])
def test_a_request_without_a_key_gets_401_and_stores_nothing(anonymous_client, path):
    response = anonymous_client.post(path, {"events": [EVENT], **EVENT}, format="json")

    assert response.status_code == 401
    assert response.json() == {
        "statusCode": 401,
        "message": ["Missing API key: send it in the X-API-Key header."],
        "error": "Unauthorized",
    }
    assert response["WWW-Authenticate"] == "X-API-Key"
    assert Event.objects.count() == 0


def test_an_empty_key_counts_as_missing():
    response = client_with("").post("/events", EVENT, format="json")

    assert response.status_code == 401
    assert response.json()["message"] == ["Missing API key: send it in the X-API-Key header."]


def test_a_wrong_key_gets_401_without_being_echoed():
    wrong = "wrong-key-5f3a9c"

    response = client_with(wrong).post("/events", EVENT, format="json")

    assert response.status_code == 401
    assert response.json() == {
        "statusCode": 401,
        "message": ["Invalid API key."],
        "error": "Unauthorized",
    }
    assert wrong not in response.content.decode()
    assert all(wrong not in value for _, value in response.items())
    assert Event.objects.count() == 0


def test_a_key_in_another_header_is_not_taken():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Api-Key test-api-key")

    assert client.post("/events", EVENT, format="json").status_code == 401


def test_every_key_of_the_api_keys_setting_works(settings):
    settings.API_KEYS = ["first-key", "second-key"]

    assert client_with("second-key").post("/events", EVENT, format="json").status_code == 201
    assert client_with("first-key").post("/events", EVENT, format="json").status_code == 201
    assert client_with("third-key").post("/events", EVENT, format="json").status_code == 401


def test_an_admin_created_key_works_and_records_its_last_use():
    api_key, raw = ApiKey.objects.create_key(name="mobile app")
    before = timezone.now()

    response = client_with(raw).post("/events", EVENT, format="json")

    assert response.status_code == 201
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None
    assert before <= api_key.last_used_at <= timezone.now()
    assert raw not in {api_key.hashed_key, api_key.id}


def test_last_use_is_written_at_most_once_a_minute():
    api_key, raw = ApiKey.objects.create_key(name="mobile app")
    client = client_with(raw)
    client.post("/events", EVENT, format="json")
    first_use = ApiKey.objects.get(pk=api_key.pk).last_used_at

    client.post("/events", EVENT, format="json")
    unchanged = ApiKey.objects.get(pk=api_key.pk).last_used_at
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=first_use - timedelta(minutes=2))
    client.post("/events", EVENT, format="json")
    refreshed = ApiKey.objects.get(pk=api_key.pk).last_used_at

    assert unchanged == first_use
    assert refreshed > first_use - timedelta(minutes=1)


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"revoked": True}, 401),
        ({"expiry_date": timezone.now() - timedelta(seconds=1)}, 401),
        ({"expiry_date": timezone.now() + timedelta(days=1)}, 201),
    ],
)
def test_revoked_and_expired_admin_keys_are_refused(fields, status):
    _, raw = ApiKey.objects.create_key(name="partner", **fields)

    response = client_with(raw).post("/events", EVENT, format="json")

    assert response.status_code == status
    assert Event.objects.count() == (1 if status == 201 else 0)


def test_a_revoked_key_is_never_marked_as_used():
    api_key, raw = ApiKey.objects.create_key(name="partner", revoked=True)

    client_with(raw).post("/events", EVENT, format="json")

    assert ApiKey.objects.get(pk=api_key.pk).last_used_at is None
