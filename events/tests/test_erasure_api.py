"""DELETE /profiles/{email}, POST /profiles/erasures and GET /profiles/erasures/{id}: what is
deleted here, in one transaction, and the erasure request recorded for Klaviyo."""

import hashlib
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from events.consent_services import consent_change_create
from events.models import ConsentChange, ErasureRequest, Event, Profile, ProfileChange
from events.tests.factories import EventFactory, ProfileFactory

pytestmark = pytest.mark.django_db

ANSWER = {
    "id",
    "status",
    "identifierKind",
    "identifierSha256",
    "deletedEvents",
    "deletedProfiles",
    "attempts",
    "lastError",
    "requestedAt",
    "sentAt",
}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_it_erases_the_profile_its_events_and_changes_and_answers_202(api_client: APIClient):
    ann = ProfileFactory(email="ann@example.com")
    EventFactory.create_batch(2, profile=ann)
    ProfileChange.objects.create(profile=ann, attributes={"plan": "pro"})
    other = EventFactory()

    response = api_client.delete("/profiles/Ann@Example.com")

    assert response.status_code == 202
    body = response.json()
    assert set(body) == ANSWER
    assert (body["status"], body["deletedEvents"], body["deletedProfiles"]) == ("pending", 2, 1)
    assert (body["identifierKind"], body["attempts"], body["sentAt"]) == ("email", 0, None)
    assert body["identifierSha256"] == sha256("ann@example.com")
    assert not Profile.objects.filter(email="ann@example.com").exists()
    assert list(Event.objects.values_list("id", flat=True)) == [other.id]
    assert not ProfileChange.objects.exists()
    erasure = ErasureRequest.objects.get()
    assert str(erasure.id) == body["id"]
    assert (erasure.identifier, erasure.identifier_kind) == ("ann@example.com", "email")
    assert (erasure.deleted_events, erasure.deleted_profiles) == (2, 1)
    assert erasure.hold_until is None


def test_an_unknown_email_still_records_a_request_for_klaviyo(api_client: APIClient):
    response = api_client.delete("/profiles/nobody@example.com/")

    assert response.status_code == 202
    assert (response.json()["deletedProfiles"], response.json()["deletedEvents"]) == (0, 0)
    assert ErasureRequest.objects.get().identifier == "nobody@example.com"


def test_it_rejects_an_invalid_email(api_client: APIClient):
    ProfileFactory(email="ann@example.com")

    response = api_client.delete("/profiles/not-an-email")

    assert response.status_code == 400
    assert response.json()["message"] == ["email must be a valid email"]
    assert not ErasureRequest.objects.exists()
    assert Profile.objects.count() == 1


def test_it_needs_the_api_key(anonymous_client: APIClient):
    ProfileFactory(email="ann@example.com")

    assert anonymous_client.delete("/profiles/ann@example.com").status_code == 401
    assert Profile.objects.count() == 1 and not ErasureRequest.objects.exists()


def test_it_erases_every_profile_with_a_phone_number(api_client: APIClient):
    for email in ("a@example.com", "b@example.com"):
        EventFactory(profile=ProfileFactory(email=email, phone_number="+15005550006"))
    kept = ProfileFactory(phone_number="+15005550007")

    response = api_client.post("/profiles/erasures", {"phoneNumber": "+15005550006"}, format="json")

    assert response.status_code == 202
    assert (response.json()["deletedProfiles"], response.json()["deletedEvents"]) == (2, 2)
    assert list(Profile.objects.values_list("id", flat=True)) == [kept.id]
    erasure = ErasureRequest.objects.get()
    assert (erasure.identifier_kind, erasure.identifier) == ("phone_number", "+15005550006")


def test_it_erases_a_profile_known_by_external_id(api_client: APIClient):
    crm = ProfileFactory(email=None, identity="external:crm-1", external_id="crm-1")
    EventFactory(profile=crm, email=None)

    response = api_client.post("/profiles/erasures", {"externalId": "crm-1"}, format="json")

    assert response.status_code == 202
    assert response.json()["identifierKind"] == "external_id"
    assert (response.json()["deletedProfiles"], response.json()["deletedEvents"]) == (1, 1)
    assert not Profile.objects.exists() and not Event.objects.exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "give exactly one of email, phoneNumber, externalId"),
        (
            {"email": "a@example.com", "phoneNumber": "+15005550006"},
            "give exactly one of email, phoneNumber, externalId",
        ),
        ({"email": "nope"}, "email must be a valid email"),
        ({"phoneNumber": "0612345678"}, "phoneNumber must be in E.164 format, like +15005550006"),
        # Else recorded as is: none of the person's profiles found here, Klaviyo refusing it.
        (
            {"phoneNumber": "+15005550006\n"},
            "phoneNumber must be in E.164 format, like +15005550006",
        ),
        (
            {"phoneNumber": "+1500555000\u0666"},
            "phoneNumber must be in E.164 format, like +15005550006",
        ),
        ({"externalId": " "}, "externalId must be a non-empty string of at most 255 characters"),
        ({"externalId": 12}, "externalId must be a string"),
        ({"email": "a@example.com", "why": "gdpr"}, "property why should not exist"),
    ],
)
def test_it_rejects_a_bad_erasure_body(api_client: APIClient, body, message):
    ProfileFactory(email="a@example.com", phone_number="+15005550006")

    response = api_client.post("/profiles/erasures", body, format="json")

    assert response.status_code == 400
    assert message in response.json()["message"]
    assert not ErasureRequest.objects.exists() and Profile.objects.count() == 1


def test_it_rejects_a_body_that_is_not_an_object(api_client: APIClient):
    response = api_client.post("/profiles/erasures", ["a@example.com"], format="json")

    assert response.status_code == 400
    assert response.json()["message"] == ["request body must be a JSON object"]


def test_get_shows_the_erasure_and_404s_when_unknown(api_client: APIClient):
    created = api_client.delete("/profiles/ann@example.com").json()

    found = api_client.get(f"/profiles/erasures/{created['id']}")
    unknown = api_client.get(f"/profiles/erasures/{uuid.uuid4()}")
    not_an_id = api_client.get("/profiles/erasures/42")

    assert found.status_code == 200
    assert found.json() == created
    assert unknown.status_code == 404
    assert unknown.json()["message"][0].endswith("not found")
    assert not_an_id.status_code == 404


def test_the_request_waits_for_the_leases_workers_hold_on_the_persons_rows(
    api_client: APIClient, settings
):
    settings.KLAVIYO_SEND_LEASE_SECONDS = 49
    ann = ProfileFactory(email="ann@example.com")
    claimed_at = timezone.now() - timedelta(seconds=10)
    EventFactory(profile=ann, last_attempt_at=claimed_at, next_attempt_at=claimed_at)
    # A claim that ended long ago (its worker gave up) and a sent event hold nothing.
    EventFactory(profile=ann, last_attempt_at=claimed_at - timedelta(minutes=5))
    EventFactory(profile=ann, sync_status="sent", last_attempt_at=timezone.now())

    api_client.delete("/profiles/ann@example.com")

    erasure = ErasureRequest.objects.get()
    assert erasure.hold_until == claimed_at + timedelta(seconds=49)
    assert erasure.next_attempt_at == erasure.hold_until


def test_the_request_waits_for_a_claim_on_the_profiles_changes(api_client: APIClient):
    held = timezone.now() + timedelta(seconds=300)
    ProfileFactory(email="ann@example.com", next_attempt_at=held)

    api_client.delete("/profiles/ann@example.com")

    assert ErasureRequest.objects.get().hold_until == held


def test_it_drops_the_persons_pending_consent_changes_and_keeps_the_record_of_sent_ones(
    api_client: APIClient,
):
    ProfileFactory(email="ann@example.com", phone_number="+15005550006")
    ann, bob = {"email": "ann@example.com"}, {"email": "bob@example.com"}
    shared = consent_change_create(kind="subscribe", channels=["email"], addresses=[ann, bob])
    alone = consent_change_create(kind="suppress", addresses=[ann])
    by_phone = consent_change_create(
        kind="subscribe", channels=["sms"], addresses=[{"phone_number": "+15005550006"}]
    )
    sent = consent_change_create(kind="unsubscribe", channels=["email"], addresses=[ann])
    ConsentChange.objects.filter(id=sent.id).update(status="sent")

    api_client.delete("/profiles/ann@example.com")

    shared.refresh_from_db()
    assert shared.profile_count == 1
    assert list(shared.profiles.values_list("email", flat=True)) == ["bob@example.com"]
    assert not ConsentChange.objects.filter(id__in=[alone.id, by_phone.id]).exists()
    assert list(sent.profiles.values_list("email", "profile_id")) == [("ann@example.com", None)]


def test_the_request_waits_for_a_claim_on_a_consent_change(api_client: APIClient, settings):
    settings.KLAVIYO_SEND_LEASE_SECONDS = 49
    change = consent_change_create(
        kind="subscribe", channels=["email"], addresses=[{"email": "ann@example.com"}]
    )
    claimed_until = timezone.now() + timedelta(seconds=40)
    ConsentChange.objects.filter(id=change.id).update(next_attempt_at=claimed_until)

    api_client.delete("/profiles/ann@example.com")

    assert ErasureRequest.objects.get().hold_until == claimed_until
    assert not ConsentChange.objects.exists()
