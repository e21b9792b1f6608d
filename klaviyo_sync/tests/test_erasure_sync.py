"""The worker's side of an erasure: Klaviyo's data-privacy-deletion-job sent when due, every
outcome recorded on the request, the identifier kept only until Klaviyo accepted it."""

import hashlib
import json
from datetime import timedelta
from urllib.parse import unquote

import pytest
import responses
from django.utils import timezone

from events.erasure_services import profile_erase
from events.models import ErasureRequest, ProfileChange, ProfileImportJob
from events.tests.factories import ProfileFactory
from klaviyo_client.ratelimit import parse_limits
from klaviyo_sync import erasure_tasks, tasks
from klaviyo_sync.erasure_sync import (
    IMPORT_JOB_HORIZON,
    NOTHING_IN_KLAVIYO,
    erasure_send,
    import_job_ended,
)
from klaviyo_sync.tests.conftest import BASE

pytestmark = pytest.mark.django_db
JOBS = f"{BASE}/data-privacy-deletion-jobs"


def erasure(**fields) -> ErasureRequest:
    value = fields.pop("identifier", "ann@example.com")
    return ErasureRequest.objects.create(
        identifier_kind=fields.pop("identifier_kind", "email"),
        identifier=value,
        identifier_sha256=hashlib.sha256(value.encode()).hexdigest(),
        **fields,
    )


def profile_sent(call) -> dict:
    return json.loads(call.request.body)["data"]["attributes"]["profile"]["data"]


def test_it_sends_the_job_and_then_keeps_only_the_hash(klaviyo):
    klaviyo.post(JOBS, status=202)
    row = erasure()

    assert erasure_send(erasure_id=row.id).status == "sent"

    assert profile_sent(klaviyo.calls[0]) == {
        "type": "profile",
        "attributes": {"email": "ann@example.com"},
    }
    row.refresh_from_db()
    assert (row.status, row.identifier, row.attempts, row.last_error) == ("sent", "", 1, "")
    assert row.identifier_sha256 == hashlib.sha256(b"ann@example.com").hexdigest()
    assert row.sent_at is not None and row.next_attempt_at is None


def test_a_phone_number_goes_as_phone_number(klaviyo):
    klaviyo.post(JOBS, status=202)
    row = erasure(identifier_kind="phone_number", identifier="+15005550006")

    erasure_send(erasure_id=row.id)

    assert profile_sent(klaviyo.calls[0])["attributes"] == {"phone_number": "+15005550006"}


def test_an_external_id_is_looked_up_and_erased_by_klaviyos_id(klaviyo):
    klaviyo.get(f"{BASE}/profiles", json={"data": [{"type": "profile", "id": "01KLAVIYO"}]})
    klaviyo.post(JOBS, status=202)
    row = erasure(identifier_kind="external_id", identifier="crm-1")

    assert erasure_send(erasure_id=row.id).status == "sent"

    assert 'equals(external_id,"crm-1")' in unquote(klaviyo.calls[0].request.url)
    assert profile_sent(klaviyo.calls[1]) == {
        "type": "profile",
        "id": "01KLAVIYO",
        "attributes": {},
    }
    row.refresh_from_db()
    assert (row.status, row.identifier) == ("sent", "")


def test_an_external_id_klaviyo_does_not_know_ends_sent_with_a_note(klaviyo):
    klaviyo.get(f"{BASE}/profiles", json={"data": []})
    row = erasure(identifier_kind="external_id", identifier="crm-1")

    assert erasure_send(erasure_id=row.id).status == "sent"

    assert [call.request.method for call in klaviyo.calls] == ["GET"]
    row.refresh_from_db()
    assert (row.status, row.last_error, row.identifier) == ("sent", NOTHING_IN_KLAVIYO, "")


def test_a_retryable_failure_is_recorded_and_retried_then_given_up(klaviyo):
    klaviyo.post(JOBS, status=503, json={"errors": [{"detail": "down"}]})
    row = erasure()

    first = erasure_send(erasure_id=row.id)

    assert (first.status, first.retry_in) == ("retrying", 0.0)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.identifier) == ("pending", 1, "ann@example.com")
    assert "503" in row.last_error
    for _ in range(2):
        outcome = erasure_send(erasure_id=row.id)
    assert outcome.status == "failed"
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("failed", 3)
    assert row.last_error.endswith("(gave up after 3 attempts)")
    assert row.identifier == "ann@example.com"  # kept: staff may send it again


def test_a_refusal_fails_at_once_with_klaviyos_reason(klaviyo):
    klaviyo.post(
        JOBS,
        status=400,
        json={"errors": [{"status": 400, "detail": "Invalid phone number"}]},
    )
    row = erasure(identifier_kind="phone_number", identifier="+15005550006")

    assert erasure_send(erasure_id=row.id).status == "failed"

    row.refresh_from_db()
    assert (row.status, row.attempts) == ("failed", 1)
    assert "Invalid phone number" in row.last_error


def test_the_client_side_rate_limiter_holding_it_back_spends_no_attempt(klaviyo, settings):
    """Held back more times than KLAVIYO_MAX_ATTEMPTS, Klaviyo never asked: still pending."""
    settings.KLAVIYO_RATE_LIMIT_ENABLED = True
    settings.KLAVIYO_RATE_LIMIT_REDIS_URL = ""  # this process's limiter, not the shared one
    settings.KLAVIYO_RATE_LIMIT_MAX_WAIT = 0.0
    settings.KLAVIYO_RATE_LIMITS = {
        **settings.KLAVIYO_RATE_LIMITS,
        "profile_deletion": parse_limits("1/h"),
    }
    klaviyo.post(JOBS, status=202)
    first, second = erasure(), erasure(identifier="bob@example.com")
    assert erasure_send(erasure_id=first.id).status == "sent"  # the hour's one request

    for _ in range(settings.KLAVIYO_MAX_ATTEMPTS + 1):
        ErasureRequest.objects.filter(id=second.id).update(next_attempt_at=None)  # due again
        outcome = erasure_send(erasure_id=second.id)
        assert outcome.status == "retrying" and outcome.retry_in > 50 * 60

    assert len(klaviyo.calls) == 1
    second.refresh_from_db()
    assert (second.status, second.attempts) == ("pending", 0)
    assert second.next_attempt_at > timezone.now() + timedelta(minutes=50)
    assert "Client-side rate limit" in second.last_error


def test_it_waits_for_the_hold_without_spending_an_attempt(klaviyo):
    hold = timezone.now() + timedelta(seconds=30)
    row = erasure(hold_until=hold, next_attempt_at=hold)

    outcome = erasure_send(erasure_id=row.id)

    assert outcome.status == "waiting" and 25 < outcome.retry_in <= 30
    assert len(klaviyo.calls) == 0
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("pending", 0)


def test_it_waits_for_an_import_job_started_before_it(klaviyo):
    klaviyo.post(JOBS, status=202)
    ProfileImportJob.objects.create(job_id="J1", started_at=timezone.now() - timedelta(seconds=5))
    row = erasure(deleted_profiles=1)

    assert erasure_send(erasure_id=row.id).status == "waiting"
    assert len(klaviyo.calls) == 0
    import_job_ended(job_id="J1")  # what the job's follower does once it ended
    assert erasure_send(erasure_id=row.id).status == "sent"


def test_an_import_job_after_it_or_long_lost_holds_nothing(klaviyo):
    klaviyo.post(JOBS, status=202)
    now = timezone.now()
    ProfileImportJob.objects.create(job_id="lost", started_at=now - IMPORT_JOB_HORIZON * 2)
    row = erasure(deleted_profiles=1, requested_at=now - timedelta(seconds=5))
    ProfileImportJob.objects.create(job_id="later", started_at=now)

    assert erasure_send(erasure_id=row.id).status == "sent"


def test_without_a_klaviyo_key_it_stays_pending_and_says_why(settings):
    settings.KLAVIYO_API_KEY = ""
    row = erasure()

    assert erasure_send(erasure_id=row.id).status == "skipped"

    row.refresh_from_db()
    assert row.status == "pending" and "KLAVIYO_API_KEY" in row.last_error


def test_a_claimed_request_is_not_sent_twice(klaviyo):
    row = erasure(next_attempt_at=timezone.now() + timedelta(seconds=40), attempts=1)

    assert erasure_send(erasure_id=row.id).status == "busy"
    assert len(klaviyo.calls) == 0


def test_the_erasure_is_queued_on_commit_and_sent(klaviyo, django_capture_on_commit_callbacks):
    klaviyo.post(JOBS, status=202)
    ProfileFactory(email="ann@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        row = profile_erase(kind="email", value="ann@example.com")

    row.refresh_from_db()
    assert (row.status, row.deleted_profiles, row.identifier) == ("sent", 1, "")
    assert len(klaviyo.calls) == 1


def test_the_sweeper_sends_an_erasure_whose_task_was_lost(klaviyo):
    klaviyo.post(JOBS, status=202)
    long_ago = timezone.now() - timedelta(minutes=5)
    lost = ErasureRequest.objects.filter(id=erasure().id)
    lost.update(requested_at=long_ago)
    fresh = erasure(identifier="new@example.com")

    assert erasure_tasks.requeue_stale_erasures.delay().get() == 1

    assert lost.get().status == "sent"
    fresh.refresh_from_db()
    assert fresh.status == "pending"


def test_the_sweeper_forgets_import_jobs_whose_follower_was_lost(klaviyo):
    now = timezone.now()
    ProfileImportJob.objects.create(job_id="lost", started_at=now - IMPORT_JOB_HORIZON * 2)
    ProfileImportJob.objects.create(job_id="running", started_at=now)

    erasure_tasks.requeue_stale_erasures.delay().get()

    assert list(ProfileImportJob.objects.values_list("job_id", flat=True)) == ["running"]


def test_a_bulk_import_job_is_listed_until_its_follower_saw_it_end(klaviyo):
    jobs = f"{BASE}/profile-bulk-import-jobs"
    job = {"type": "profile-bulk-import-job", "id": "J1", "attributes": {"status": "queued"}}
    listed_at_each_poll: list[bool] = []
    states = iter(["processing", "complete"])

    def poll(request):
        listed_at_each_poll.append(ProfileImportJob.objects.filter(job_id="J1").exists())
        answer = {"data": {**job, "attributes": {"status": next(states)}}}
        return 200, {"Content-Type": "application/vnd.api+json"}, json.dumps(answer)

    klaviyo.post(jobs, status=202, json={"data": job})
    klaviyo.add_callback(responses.GET, f"{jobs}/J1", callback=poll)
    klaviyo.get(f"{jobs}/J1/import-errors", json={"data": [], "links": {"next": None}})
    ids = []
    for index in range(6):
        profile = ProfileFactory(attributes={"n": index})  # what its change left
        ProfileChange.objects.create(profile=profile, attributes={"n": index})
        ids.append(profile.id)

    tasks.sync_profiles_changes.delay(ids).get()

    assert listed_at_each_poll == [True, True]
    assert not ProfileImportJob.objects.exists()
