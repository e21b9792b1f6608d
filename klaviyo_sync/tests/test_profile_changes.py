"""The sync of POST /profiles: only what changed goes to Klaviyo (profile-import), failures are
recorded on the profile and retried, a 409 duplicate_profile updates the profile Klaviyo names."""

import json
from datetime import timedelta

import pytest
import responses
from django.utils import timezone
from rest_framework.test import APIClient

from events.models import Profile, ProfileChange, SyncStatus
from events.tests.factories import EventFactory, ProfileFactory
from klaviyo_sync import tasks
from klaviyo_sync.profile_changes import profile_changes_sync
from klaviyo_sync.tests.conftest import BASE

pytestmark = pytest.mark.django_db
IMPORT = f"{BASE}/profile-import"


def _post(api_client: APIClient, attributes: dict, email: str = "ann@example.com") -> int:
    response = api_client.post(
        "/profiles", {"email": email, "profileAttributes": attributes}, format="json"
    )
    assert response.status_code in (200, 201)
    return response.json()["id"]


def _sent(klaviyo: responses.RequestsMock) -> list[dict]:
    return [json.loads(call.request.body)["data"] for call in klaviyo.calls]


def test_a_post_queues_the_sync_once_committed(
    api_client: APIClient, klaviyo: responses.RequestsMock, django_capture_on_commit_callbacks
) -> None:
    klaviyo.post(IMPORT, status=201, json={"data": {"type": "profile", "id": "K1"}})

    with django_capture_on_commit_callbacks(execute=True):
        profile_id = _post(api_client, {"firstName": "Ann"})

    profile = Profile.objects.get(id=profile_id)
    assert profile.sync_status == SyncStatus.SENT
    assert profile.klaviyo_id == "K1"
    assert profile.synced_at is not None
    assert not ProfileChange.objects.exists()
    assert _sent(klaviyo)[0]["attributes"] == {"email": "ann@example.com", "first_name": "Ann"}


def test_it_sends_only_the_changes_merged_in_order_with_what_they_cleared(
    api_client: APIClient, klaviyo: responses.RequestsMock
) -> None:
    klaviyo.post(IMPORT, status=200, json={"data": {"type": "profile", "id": "K1"}})
    profile = ProfileFactory(
        email="ann@example.com", attributes={"firstName": "Ann", "plan": "pro", "title": "CTO"}
    )
    EventFactory(profile=profile, profile_attributes={"loyalty": "gold"})
    _post(api_client, {"city": "Lyon", "plan": "basic"})
    _post(api_client, {"plan": None, "title": None, "city": "Nice"})

    assert tasks.sync_profile_changes.delay(profile.id).get() == "sent"

    (data,) = _sent(klaviyo)
    assert data["attributes"] == {
        "email": "ann@example.com",
        "title": None,
        "location": {"city": "Nice"},
    }
    assert data["meta"] == {"patch_properties": {"unset": ["plan"]}}


def test_a_retryable_failure_is_recorded_and_retried_then_sent(
    api_client: APIClient, klaviyo: responses.RequestsMock, settings
) -> None:
    settings.KLAVIYO_RETRY_BASE_DELAY = 60.0
    klaviyo.post(IMPORT, status=503, json={"errors": [{"status": 503, "detail": "busy"}]})
    klaviyo.post(IMPORT, status=200, json={"data": {"type": "profile", "id": "K1"}})
    profile_id = _post(api_client, {"firstName": "Ann"})

    outcome = profile_changes_sync(profile_id=profile_id)

    assert outcome.status == "retrying"
    assert outcome.retry_in == 60.0
    profile = Profile.objects.get(id=profile_id)
    assert profile.sync_status == SyncStatus.PENDING
    assert "503" in profile.last_error
    assert profile.attempts == 1
    assert profile.next_attempt_at is not None
    assert ProfileChange.objects.count() == 1

    # A task arriving before the retry is due leaves it to the retry.
    assert profile_changes_sync(profile_id=profile_id).status == "busy"
    Profile.objects.filter(id=profile_id).update(next_attempt_at=timezone.now())
    assert profile_changes_sync(profile_id=profile_id).status == "sent"
    profile.refresh_from_db()
    assert (profile.sync_status, profile.last_error, profile.attempts) == (SyncStatus.SENT, "", 0)


def test_a_new_profile_is_due_from_its_creation_even_on_a_clock_a_little_ahead(
    api_client: APIClient, klaviyo: responses.RequestsMock
) -> None:
    klaviyo.post(IMPORT, status=201, json={"data": {"type": "profile", "id": "K1"}})
    profile_id = _post(api_client, {"firstName": "Ann"})
    profile = Profile.objects.get(id=profile_id)
    # Stored as the instant it became due, not NULL: the claim then grows no row.
    assert profile.next_attempt_at == profile.created_at

    # Stored by a web server whose clock runs 3 s ahead of the worker's.
    Profile.objects.filter(id=profile_id).update(
        next_attempt_at=timezone.now() + timedelta(seconds=3)
    )

    assert profile_changes_sync(profile_id=profile_id).status == "sent"
    profile.refresh_from_db()
    assert (profile.sync_status, profile.klaviyo_id) == (SyncStatus.SENT, "K1")


def test_a_sent_profile_changed_again_is_due_from_its_change_not_null(
    api_client: APIClient, klaviyo: responses.RequestsMock
) -> None:
    klaviyo.post(IMPORT, status=201, json={"data": {"type": "profile", "id": "K1"}})
    profile_id = _post(api_client, {"firstName": "Ann"})
    assert profile_changes_sync(profile_id=profile_id).status == "sent"
    assert Profile.objects.get(id=profile_id).next_attempt_at is None

    _post(api_client, {"firstName": "Anne"})

    profile = Profile.objects.get(id=profile_id)
    # The upsert stores when the change came, as for a new row: the claim then grows no row.
    assert profile.next_attempt_at == profile.updated_at
    assert profile_changes_sync(profile_id=profile_id).status == "sent"
    assert _sent(klaviyo)[-1]["attributes"]["first_name"] == "Anne"


def test_a_change_keeps_the_claim_or_retry_it_finds_on_its_profile(
    api_client: APIClient, klaviyo: responses.RequestsMock
) -> None:
    profile_id = _post(api_client, {"firstName": "Ann"})
    retry_at = timezone.now() + timedelta(minutes=5)
    Profile.objects.filter(id=profile_id).update(next_attempt_at=retry_at)

    _post(api_client, {"firstName": "Anne"})

    assert Profile.objects.get(id=profile_id).next_attempt_at == retry_at
    assert profile_changes_sync(profile_id=profile_id).status == "busy"


def test_it_gives_up_after_the_maximum_attempts(
    api_client: APIClient, klaviyo: responses.RequestsMock
) -> None:
    klaviyo.post(IMPORT, status=503, json={"errors": [{"status": 503, "detail": "busy"}]})
    profile_id = _post(api_client, {"firstName": "Ann"})

    tasks.sync_profile_changes.delay(profile_id)  # in process: its retries run at once

    profile = Profile.objects.get(id=profile_id)
    assert profile.sync_status == SyncStatus.FAILED
    assert "gave up after 3 attempts" in profile.last_error
    assert len(klaviyo.calls) == 3


def test_a_refusal_fails_the_profile_with_klaviyos_reason(
    api_client: APIClient, klaviyo: responses.RequestsMock
) -> None:
    klaviyo.post(
        IMPORT,
        status=400,
        json={"errors": [{"status": 400, "code": "invalid", "detail": "bad organization"}]},
    )
    profile_id = _post(api_client, {"organization": "x"})

    assert profile_changes_sync(profile_id=profile_id).status == "failed"

    profile = Profile.objects.get(id=profile_id)
    assert profile.sync_status == SyncStatus.FAILED
    assert "bad organization" in profile.last_error
    assert ProfileChange.objects.count() == 1  # kept: the next change sends it again


def test_a_duplicate_profile_updates_the_profile_klaviyo_names(
    api_client: APIClient, klaviyo: responses.RequestsMock
) -> None:
    duplicate = {
        "errors": [
            {
                "status": 409,
                "code": "duplicate_profile",
                "detail": "A profile already exists with one of these identifiers.",
                "meta": {"duplicate_profile_id": "K9"},
            }
        ]
    }
    klaviyo.post(IMPORT, status=409, json=duplicate)
    klaviyo.patch(f"{BASE}/profiles/K9", status=200, json={"data": {"type": "profile", "id": "K9"}})
    profile_id = _post(api_client, {"firstName": "Ann"})

    assert profile_changes_sync(profile_id=profile_id).status == "sent"

    patch = _sent(klaviyo)[1]
    assert patch["id"] == "K9"
    assert patch["attributes"] == {"first_name": "Ann"}
    profile = Profile.objects.get(id=profile_id)
    assert profile.klaviyo_id == "K9"
    assert "duplicate_profile" in profile.last_error


def test_without_a_key_the_profile_is_skipped(api_client: APIClient, settings) -> None:
    settings.KLAVIYO_API_KEY = ""
    profile_id = _post(api_client, {"firstName": "Ann"})

    assert profile_changes_sync(profile_id=profile_id).status == "skipped"
    assert Profile.objects.get(id=profile_id).sync_status == SyncStatus.SKIPPED


def test_the_sweeper_queues_profiles_whose_changes_wait(
    api_client: APIClient, klaviyo: responses.RequestsMock, settings
) -> None:
    klaviyo.post(IMPORT, status=200, json={"data": {"type": "profile", "id": "K1"}})
    waiting = _post(api_client, {"firstName": "Ann"})
    _post(api_client, {"firstName": "Bo"}, email="bo@example.com")  # too recent to sweep
    stored = timezone.now() - timedelta(seconds=settings.SYNC_STALE_PENDING_SECONDS + 5)
    ProfileChange.objects.filter(profile_id=waiting).update(created_at=stored)
    Profile.objects.filter(id=waiting).update(next_attempt_at=stored)  # due since it was stored

    assert tasks.requeue_stale_profile_changes.delay().get() == 1

    assert Profile.objects.get(id=waiting).sync_status == SyncStatus.SENT
    assert Profile.objects.get(email="bo@example.com").sync_status == SyncStatus.PENDING


def test_the_events_sync_leaves_a_profile_with_waiting_changes_pending(
    api_client: APIClient, klaviyo: responses.RequestsMock
) -> None:
    klaviyo.post(f"{BASE}/events", status=202)
    profile_id = _post(api_client, {"firstName": "Ann"})
    event = EventFactory(profile_id=profile_id, email="ann@example.com")

    tasks.sync_events.delay([str(event.id)])

    event.refresh_from_db()
    assert event.sync_status == SyncStatus.SENT
    assert Profile.objects.get(id=profile_id).sync_status == SyncStatus.PENDING
