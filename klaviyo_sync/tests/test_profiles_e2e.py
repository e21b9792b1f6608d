"""End to end against the Klaviyo emulator: what a Klaviyo account holds after POST /profiles
and POST /profiles/bulk (a bulk import job followed through its states, import errors on the
profiles they name, clearing through profile-import)."""

import pytest

from events.models import Profile, ProfileChange, SyncStatus
from klaviyo_emulator.server import Emulator
from klaviyo_sync.tests.conftest import klaviyo_is
from klaviyo_sync.tests.test_semantics_e2e import in_klaviyo

pytestmark = pytest.mark.django_db


@pytest.fixture
def klaviyo(emulator: Emulator, settings) -> Emulator:
    return klaviyo_is(emulator, settings)


@pytest.fixture
def post(api_client, django_capture_on_commit_callbacks):
    def post(path: str, body: dict) -> dict:
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client.post(path, body, format="json")
        assert response.status_code in (200, 201), response.content
        return response.json()

    return post


def test_profile_changes_reach_klaviyo_and_clear_what_was_cleared(klaviyo, post):
    post(
        "/profiles",
        {
            "email": "ann@example.com",
            "profileAttributes": {"firstName": "Ann", "plan": "pro", "city": "Lyon"},
        },
    )
    post(
        "/profiles",
        {
            "email": "ann@example.com",
            "profileAttributes": {"plan": None, "city": None, "title": "CTO"},
        },
    )

    held = in_klaviyo(klaviyo, email="ann@example.com")
    assert held["first_name"] == "Ann"
    assert held["title"] == "CTO"
    assert "plan" not in (held.get("properties") or {})
    assert not (held.get("location") or {}).get("city")
    profile = Profile.objects.get(email="ann@example.com")
    assert profile.sync_status == SyncStatus.SENT
    assert profile.klaviyo_id
    assert not ProfileChange.objects.exists()


def test_a_bulk_goes_as_a_job_and_its_import_errors_land_on_their_profiles(klaviyo, post):
    profiles = [{"email": f"p{i}@example.com", "profileAttributes": {"n": i}} for i in range(8)]
    klaviyo.app.faults.configure({"reject_email": "p3@example.com"})  # Klaviyo refuses this one

    post("/profiles/bulk", {"profiles": profiles})

    jobs = list(klaviyo.app.store.jobs.values())
    assert len(jobs) == 1 and jobs[0].status == "complete"
    assert in_klaviyo(klaviyo, email="p5@example.com")["properties"] == {"n": 5}
    refused = Profile.objects.get(email="p3@example.com")
    assert refused.sync_status == SyncStatus.FAILED
    assert refused.last_error == "Klaviyo import error: Email address rejected: p3@example.com"
    others = Profile.objects.exclude(id=refused.id)
    assert {row.sync_status for row in others} == {SyncStatus.SENT}
