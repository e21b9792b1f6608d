"""Erasure requests in admin: listed read-only with their state, filtered by status, the hash
alone once Klaviyo accepted them, and failed ones sent again."""

import hashlib

import pytest
from django.urls import reverse

from events.models import ErasureRequest, ErasureStatus
from klaviyo_sync.tests.conftest import BASE

pytestmark = pytest.mark.django_db
ERASURES = reverse("admin:events_erasurerequest_changelist")


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client


def erasure(value: str, **fields) -> ErasureRequest:
    return ErasureRequest.objects.create(
        identifier_kind="email",
        identifier=value,
        identifier_sha256=hashlib.sha256(value.encode()).hexdigest(),
        **fields,
    )


def test_the_list_shows_state_errors_and_only_the_hash_once_sent(staff_client):
    erasure("failed@example.com", status=ErasureStatus.FAILED, attempts=3, last_error="HTTP 403")
    sent_hash = hashlib.sha256(b"sent@example.com").hexdigest()
    ErasureRequest.objects.create(
        identifier_kind="email", identifier="", identifier_sha256=sent_hash, status="sent"
    )

    response = staff_client.get(ERASURES)

    page = response.content.decode()
    assert response.status_code == 200
    assert "failed@example.com" in page and "HTTP 403" in page
    assert "sent@example.com" not in page
    assert f"sha256:{sent_hash[:16]}" in page


def test_the_list_filters_by_status_and_searches_by_hash(staff_client):
    erasure("a@example.com", status=ErasureStatus.FAILED)
    erasure("b@example.com")

    failed = staff_client.get(ERASURES, {"status__exact": "failed"})
    found = staff_client.get(ERASURES, {"q": hashlib.sha256(b"b@example.com").hexdigest()})

    assert [e.identifier for e in failed.context["cl"].result_list] == ["a@example.com"]
    assert [e.identifier for e in found.context["cl"].result_list] == ["b@example.com"]


def test_nobody_adds_changes_or_deletes_one(staff_client):
    row = erasure("a@example.com")

    assert staff_client.get(reverse("admin:events_erasurerequest_add")).status_code == 403
    change = staff_client.post(
        reverse("admin:events_erasurerequest_change", args=[row.id]), {"identifier": "x"}
    )
    delete = staff_client.post(
        reverse("admin:events_erasurerequest_delete", args=[row.id]), {"post": "yes"}
    )

    assert change.status_code == 403 and delete.status_code == 403
    row.refresh_from_db()
    assert row.identifier == "a@example.com"


def test_retry_sends_a_failed_erasure_again(staff_client, klaviyo):
    klaviyo.post(f"{BASE}/data-privacy-deletion-jobs", status=202)
    failed = erasure("a@example.com", status=ErasureStatus.FAILED, attempts=3, last_error="x")
    pending = erasure("b@example.com")

    response = staff_client.post(
        ERASURES,
        {"action": "retry", "_selected_action": [str(failed.id), str(pending.id)]},
        follow=True,
    )

    assert "1 erasures queued for Klaviyo again." in response.content.decode()
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.identifier) == ("sent", 1, "")
    pending.refresh_from_db()
    assert pending.status == "pending"
    assert len(klaviyo.calls) == 1
