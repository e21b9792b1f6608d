"""A profile's consent and lists as last sent (GET /profiles/{email}), and a person's pending
consent changes dropped on erasure."""

from datetime import timedelta

import pytest
from django.utils import timezone

from events.consent_services import consent_change_create, consent_changes_drop_pending
from events.models import ConsentChange, ConsentChangeProfile, ConsentStatus
from events.tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db
START = timezone.now() - timedelta(hours=1)


def _sent(kind: str, minute: int, *, channels=(), list_id=None, **address) -> ConsentChange:
    change = consent_change_create(
        kind=kind, addresses=[address], channels=channels, list_id=list_id
    )
    at = START + timedelta(minutes=minute)
    ConsentChange.objects.filter(id=change.id).update(status=ConsentStatus.SENT, sent_at=at)
    change.profiles.update(sent_at=at)
    return change


def test_a_profile_shows_its_consent_and_lists_as_last_sent(api_client) -> None:
    ProfileFactory(email="ann@example.com", phone_number="+15005550006")
    first = _sent(
        "subscribe", 1, channels=["email", "sms"], list_id="Y6nRLr", email="ann@example.com"
    )
    sms_off = _sent("unsubscribe", 2, channels=["sms"], phone_number="+15005550006")
    suppressed = _sent("suppress", 3, email="ann@example.com")
    _sent("list_add", 4, list_id="AbC123", email="ann@example.com")
    _sent("list_remove", 5, list_id="AbC123", email="ann@example.com")
    _sent("subscribe", 6, channels=["email"], list_id="Zz9999", email="bob@example.com")
    consent_change_create(  # pending: not shown until Klaviyo accepts it
        kind="unsubscribe", addresses=[{"email": "ann@example.com"}], channels=["email"]
    )

    body = api_client.get("/profiles/Ann@Example.com").json()

    assert body["consent"]["email"]["status"] == "subscribed"
    assert body["consent"]["email"]["changeId"] == first.id
    assert (body["consent"]["sms"]["status"], body["consent"]["sms"]["changeId"]) == (
        "unsubscribed",
        sms_off.id,
    )
    assert body["consent"]["suppression"]["changeId"] == suppressed.id
    assert body["consent"]["suppression"]["status"] == "suppressed"
    assert [item["listId"] for item in body["lists"]] == ["Y6nRLr"]
    assert body["lists"][0]["sentAt"].endswith("Z")


def test_a_profile_with_nothing_sent_shows_no_consent(api_client) -> None:
    ProfileFactory(email="ann@example.com")

    body = api_client.get("/profiles/ann@example.com").json()

    assert body["consent"] == {"email": None, "sms": None, "suppression": None}
    assert body["lists"] == []


def test_erasure_drops_a_persons_pending_addresses_and_keeps_the_record_of_sent_ones() -> None:
    alone = consent_change_create(kind="suppress", addresses=[{"email": "ann@example.com"}])
    shared = consent_change_create(
        kind="suppress", addresses=[{"email": "ann@example.com"}, {"email": "bob@example.com"}]
    )
    sent = _sent("unsuppress", 1, email="ann@example.com")

    assert consent_changes_drop_pending(email="ann@example.com") == 2

    assert not ConsentChange.objects.filter(id=alone.id).exists()
    shared.refresh_from_db()
    assert shared.profile_count == 1
    assert list(shared.profiles.values_list("email", flat=True)) == ["bob@example.com"]
    assert ConsentChangeProfile.objects.filter(change=sent).exists()


def test_erasure_by_phone_drops_every_pending_address_carrying_that_number() -> None:
    consent_change_create(
        kind="subscribe",
        addresses=[{"email": "ann@example.com", "phone_number": "+15005550006"}],
        channels=["sms"],
        list_id="Y6nRLr",
    )
    kept = consent_change_create(
        kind="unsubscribe", addresses=[{"phone_number": "+447700900123"}], channels=["sms"]
    )

    assert consent_changes_drop_pending(email=None, phone_number="+15005550006") == 1

    assert list(ConsentChange.objects.values_list("id", flat=True)) == [kept.id]
