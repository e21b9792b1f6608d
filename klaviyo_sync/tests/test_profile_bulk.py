"""A backlog of profile changes goes to Klaviyo as profile-bulk-import-jobs, each followed to its
end (a settle all or nothing); Klaviyo's import errors fail the profiles they name; what clears
goes by profile-import."""

import json
import time
from datetime import timedelta

import pytest
import redis
import responses
from django.db import DatabaseError, connection, connections
from django.utils import timezone
from rest_framework.test import APIClient

from events.models import Profile, ProfileChange, SyncStatus
from klaviyo_client.limits import MAX_BULK_PROFILES
from klaviyo_sync import profile_bulk, tasks
from klaviyo_sync.tests.conftest import BASE
from testkit.procs import (
    FALLBACK_BROKER_URL,
    broker_flush,
    broker_reachable,
    broker_url,
    is_embedded,
    producer_on,
)
from tests.services import unavailable

pytestmark = pytest.mark.django_db
JOBS = f"{BASE}/profile-bulk-import-jobs"


def _bulk(api_client: APIClient, profiles: list[dict]) -> list[int]:
    response = api_client.post("/profiles/bulk", {"profiles": profiles}, format="json")
    assert response.status_code == 201
    return [item["id"] for item in response.json()["profiles"]]


def _job(status: str) -> dict:
    return {
        "data": {"type": "profile-bulk-import-job", "id": "J1", "attributes": {"status": status}}
    }


def _job_ending_clean(klaviyo: responses.RequestsMock, count: int) -> None:
    """Job J1 accepted, then read as complete: `count` profiles, none failed."""
    klaviyo.post(JOBS, status=202, json=_job("queued"))
    done = _job("complete")
    done["data"]["attributes"].update(total_count=count, completed_count=count, failed_count=0)
    klaviyo.get(f"{JOBS}/J1", json=done)


@pytest.fixture
def klaviyo_jobs(klaviyo: responses.RequestsMock) -> responses.RequestsMock:
    klaviyo.post(JOBS, status=202, json=_job("queued"))
    klaviyo.get(f"{JOBS}/J1", json=_job("processing"))
    klaviyo.get(f"{JOBS}/J1", json=_job("complete"))
    error = {
        "type": "import-error",
        "id": "E1",
        "attributes": {
            "code": "invalid",
            "title": "Invalid input.",
            "detail": "Invalid phone number format",
            "source": {"pointer": "/data/attributes/profiles/data/2/attributes/phone_number"},
            "original_payload": {"email": "p2@example.com", "phone_number": "+1"},
        },
    }
    klaviyo.get(f"{JOBS}/J1/import-errors", json={"data": [error], "links": {"next": None}})
    return klaviyo


def test_a_backlog_goes_in_one_job_followed_to_its_end(
    api_client: APIClient, klaviyo_jobs: responses.RequestsMock
) -> None:
    ids = _bulk(
        api_client,
        [{"email": f"p{i}@example.com", "profileAttributes": {"n": i}} for i in range(6)],
    )

    result = tasks.sync_profiles_changes.delay(ids).get()

    assert result == {"jobs": 1, "one_by_one": 0, "retrying": 0}
    posted = [call for call in klaviyo_jobs.calls if call.request.method == "POST"]
    assert len(posted) == 1
    sent = json.loads(posted[0].request.body)["data"]["attributes"]["profiles"]["data"]
    assert [item["attributes"]["email"] for item in sent] == [f"p{i}@example.com" for i in range(6)]
    assert sent[3]["attributes"]["properties"] == {"n": 3}
    polls = [call for call in klaviyo_jobs.calls if call.request.url == f"{JOBS}/J1"]
    assert len(polls) == 2  # processing, then complete
    failed = Profile.objects.get(email="p2@example.com")
    assert failed.sync_status == SyncStatus.FAILED
    assert failed.last_error == "Klaviyo import error: Invalid phone number format"
    assert ProfileChange.objects.filter(profile=failed).count() == 1
    sent_rows = Profile.objects.exclude(id=failed.id)
    assert {row.sync_status for row in sent_rows} == {SyncStatus.SENT}
    assert not ProfileChange.objects.exclude(profile=failed).exists()


def test_a_change_that_clears_goes_through_profile_import(
    api_client: APIClient, klaviyo_jobs: responses.RequestsMock
) -> None:
    klaviyo_jobs.post(f"{BASE}/profile-import", json={"data": {"type": "profile", "id": "K5"}})
    profiles = [{"email": f"p{i}@example.com", "profileAttributes": {"n": i}} for i in range(5)]
    profiles.append({"email": "p0@example.com", "profileAttributes": {"n": None}})
    ids = list(dict.fromkeys(_bulk(api_client, profiles)))
    _bulk(api_client, [{"email": "x@example.com", "profileAttributes": {"firstName": "X"}}])
    ids.append(Profile.objects.get(email="x@example.com").id)

    result = tasks.sync_profiles_changes.delay(ids).get()

    assert result == {"jobs": 1, "one_by_one": 1, "retrying": 0}
    imported = [c for c in klaviyo_jobs.calls if c.request.url == f"{BASE}/profile-import"]
    (data,) = [json.loads(c.request.body)["data"] for c in imported]
    assert data["attributes"] == {"email": "p0@example.com"}
    assert data["meta"] == {"patch_properties": {"unset": ["n"]}}
    p0 = Profile.objects.get(email="p0@example.com")
    assert (p0.sync_status, p0.klaviyo_id) == (SyncStatus.SENT, "K5")


def test_a_retryable_refusal_of_the_job_retries_its_profiles(
    api_client: APIClient, klaviyo: responses.RequestsMock, settings
) -> None:
    settings.KLAVIYO_RETRY_BASE_DELAY = 30.0
    klaviyo.post(JOBS, status=429, json={"errors": [{"status": 429, "detail": "slow down"}]})
    ids = _bulk(api_client, [{"email": f"p{i}@example.com"} for i in range(5)])

    plan = profile_bulk.profiles_changes_send_bulk(profile_ids=ids)

    assert [sorted(retry) for retry, _ in plan.retry] == [sorted(ids)]
    rows = Profile.objects.all()
    assert {row.sync_status for row in rows} == {SyncStatus.PENDING}
    assert all("429" in row.last_error and row.next_attempt_at for row in rows)
    assert ProfileChange.objects.count() == 5


def test_jobs_hold_at_most_klaviyos_number_of_profiles_and_bytes() -> None:
    small = [(i, b"x" * 100) for i in range(MAX_BULK_PROFILES + 1)]
    big = [(i, b"x" * 2_000_000) for i in range(5)]

    assert [len(job) for job in profile_bulk._pack(small)] == [MAX_BULK_PROFILES, 1]
    assert [len(job) for job in profile_bulk._pack(big)] == [2, 2, 1]


def test_a_job_klaviyo_reports_without_failures_is_settled_without_reading_import_errors(
    api_client: APIClient, klaviyo: responses.RequestsMock
) -> None:
    _job_ending_clean(klaviyo, 5)
    ids = _bulk(api_client, [{"email": f"p{i}@example.com"} for i in range(5)])
    plan = profile_bulk.profiles_changes_send_bulk(profile_ids=ids)
    ((job_id, carried),) = plan.jobs

    assert profile_bulk.profile_import_job_settle(job_id=job_id, carried=carried).running is None

    assert not [c for c in klaviyo.calls if "import-errors" in c.request.url]
    assert {row.sync_status for row in Profile.objects.all()} == {SyncStatus.SENT}
    assert not ProfileChange.objects.exists()


def test_a_job_klaviyo_cancelled_gives_its_profiles_back_untried_with_the_reason(
    api_client: APIClient, klaviyo: responses.RequestsMock
) -> None:
    klaviyo.post(JOBS, status=202, json=_job("queued"))
    klaviyo.get(f"{JOBS}/J1", json=_job("cancelled"))
    ids = _bulk(api_client, [{"email": f"p{i}@example.com"} for i in range(3)])
    plan = profile_bulk.profiles_changes_send_bulk(profile_ids=ids)
    ((job_id, carried),) = plan.jobs

    followed = profile_bulk.profile_import_job_settle(job_id=job_id, carried=carried)

    assert followed.running is None
    rows = Profile.objects.all()
    assert {row.sync_status for row in rows} == {SyncStatus.PENDING}
    assert {(row.attempts, row.next_attempt_at) for row in rows} == {(0, None)}
    assert {row.last_error for row in rows} == {"Klaviyo cancelled import job J1"}
    assert ProfileChange.objects.count() == 3  # still to be sent
    assert followed.waiting == sorted(ids)  # by the follower, at once


def test_a_change_stored_while_its_job_ran_stays_to_be_sent_next(
    api_client: APIClient, klaviyo_jobs: responses.RequestsMock
) -> None:
    ids = _bulk(
        api_client,
        [{"email": f"p{i}@example.com", "profileAttributes": {"n": i}} for i in range(5)],
    )
    plan = profile_bulk.profiles_changes_send_bulk(profile_ids=ids)
    _bulk(api_client, [{"email": "p4@example.com", "profileAttributes": {"n": 40}}])
    ((job_id, carried),) = plan.jobs

    while (
        profile_bulk.profile_import_job_settle(job_id=job_id, carried=carried).running is not None
    ):
        pass

    p4 = Profile.objects.get(email="p4@example.com")
    kept = ProfileChange.objects.exclude(profile__email="p2@example.com")  # p2: import error
    assert list(kept.values_list("profile_id", "attributes")) == [(p4.id, {"n": 40})]
    assert (p4.sync_status, p4.attempts, p4.next_attempt_at) == (SyncStatus.PENDING, 0, None)
    sent = Profile.objects.exclude(email__in=["p2@example.com", "p4@example.com"])
    assert {row.sync_status for row in sent} == {SyncStatus.SENT}


def test_a_job_is_polled_a_tenth_of_a_second_after_it_is_sent_then_ever_further_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    countdowns: list[float] = []
    monkeypatch.setattr(
        tasks.follow_profile_import_job,
        "apply_async",
        lambda args, countdown: countdowns.append(countdown),
    )

    for polls in range(11):
        tasks._follow_job("J1", [[1, 1]], polls=polls)

    assert countdowns == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 60.0])


def test_the_time_a_poll_took_is_not_added_to_the_wait_for_the_next(
    api_client: APIClient, klaviyo: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    klaviyo.post(JOBS, status=202, json=_job("queued"))
    ids = _bulk(api_client, [{"email": f"p{i}@example.com"} for i in range(5)])
    ((job_id, carried),) = profile_bulk.profiles_changes_send_bulk(profile_ids=ids).jobs

    def slow_answer(request):  # Klaviyo (or the client's limiter) takes 0.2 s to answer
        time.sleep(0.2)
        return 200, {}, json.dumps(_job("processing"))

    klaviyo.add_callback(responses.GET, f"{JOBS}/J1", callback=slow_answer)
    queued: list[tuple[list, float]] = []
    monkeypatch.setattr(
        tasks.follow_profile_import_job,
        "apply_async",
        lambda args, countdown: queued.append((args, countdown)),
    )

    assert tasks.follow_profile_import_job(job_id, carried.as_task_argument(), 2) == "processing"

    # The 4th poll is due 0.8 s after the 3rd began, so 0.6 s or less after it ended.
    ((args, countdown),) = queued
    assert args[2] == 3
    assert 0.4 <= countdown <= 0.6
    assert Profile.objects.filter(sync_status=SyncStatus.SENT).count() == 0


def test_a_job_klaviyo_still_runs_past_half_the_claims_hold_holds_its_profiles_on(
    api_client: APIClient, klaviyo: responses.RequestsMock, monkeypatch, settings
) -> None:
    """Else a later change of one of them would go by profile-import once the hold ended,
    and the job, landing after it, would put the older value back in Klaviyo."""
    klaviyo.post(JOBS, status=202, json=_job("queued"))
    klaviyo.get(f"{JOBS}/J1", json=_job("processing"))
    ids = _bulk(api_client, [{"email": f"p{i}@example.com"} for i in range(3)])
    ((job_id, carried),) = profile_bulk.profiles_changes_send_bulk(profile_ids=ids).jobs
    monkeypatch.setattr(tasks.follow_profile_import_job, "apply_async", lambda **kwargs: None)
    claimed = set(Profile.objects.values_list("next_attempt_at", flat=True))
    hold = timedelta(seconds=settings.SYNC_STALE_PENDING_SECONDS)

    early = tasks.follow_profile_import_job(job_id, carried.as_task_argument(), 5)
    assert set(Profile.objects.values_list("next_attempt_at", flat=True)) == claimed
    assert tasks.job_age(14) > hold.total_seconds() / 2 > tasks.job_age(13)
    late = tasks.follow_profile_import_job(job_id, carried.as_task_argument(), 14)

    assert early == late == "processing"
    held = set(Profile.objects.values_list("next_attempt_at", flat=True))
    assert len(claimed) == len(held) == 1
    assert held.pop() > claimed.pop()


def test_a_follow_up_queued_in_the_older_form_settles_its_job(
    api_client: APIClient, klaviyo: responses.RequestsMock
) -> None:
    _job_ending_clean(klaviyo, 3)
    ids = _bulk(api_client, [{"email": f"p{i}@example.com"} for i in range(3)])
    profile_bulk.profiles_changes_send_bulk(profile_ids=ids)
    # Queued before the job's profiles and changes went as runs: [profile, last change] pairs.
    pairs = [
        [change.profile_id, change.id]
        for change in ProfileChange.objects.filter(profile_id__in=ids)
    ]
    _bulk(api_client, [{"email": "p1@example.com", "profileAttributes": {"n": 1}}])  # newer
    klaviyo.post(f"{BASE}/profile-import", json={"data": {"type": "profile", "id": "K1"}})

    assert tasks.follow_profile_import_job("J1", pairs, 1) == "settled"

    # The newer change stayed, and went (profile-import) once the job was settled.
    [imported] = [c for c in klaviyo.calls if c.request.url == f"{BASE}/profile-import"]
    assert json.loads(imported.request.body)["data"]["attributes"]["properties"] == {"n": 1}
    assert not ProfileChange.objects.exists()
    statuses = dict(Profile.objects.values_list("email", "sync_status"))
    assert set(statuses.values()) == {SyncStatus.SENT} and len(statuses) == 3


def test_a_job_carries_its_profiles_and_changes_as_runs_of_ids(
    api_client: APIClient, klaviyo: responses.RequestsMock
) -> None:
    klaviyo.post(JOBS, status=202, json=_job("queued"))
    ids = _bulk(api_client, [{"email": f"p{i}@example.com"} for i in range(4)])
    _bulk(api_client, [{"email": "p2@example.com", "profileAttributes": {"n": 2}}])
    changes = list(ProfileChange.objects.order_by("id").values_list("id", flat=True))

    plan = profile_bulk.profiles_changes_send_bulk(profile_ids=ids)

    ((_, carried),) = plan.jobs
    argument = carried.as_task_argument()
    assert argument == {
        "profiles": [[ids[0], ids[-1]]],
        "changes": [[changes[0], changes[-1]]],
    }
    assert profile_bulk.JobCarried.from_task_argument(argument) == carried


def test_a_changed_custom_object_goes_whole_as_it_now_stands_and_nothing_else_of_the_row(
    klaviyo: responses.RequestsMock,
) -> None:
    klaviyo.post(JOBS, status=202, json=_job("queued"))
    merged = {"prefs": {"a": 1, "b": 3}, "plan": "free", "firstName": "Ann"}
    nested = Profile.objects.create(
        identity="n@example.com", email="n@example.com", attributes=merged
    )
    ProfileChange.objects.create(profile=nested, attributes={"prefs": {"b": 3}})
    flat = Profile.objects.create(
        identity="f@example.com", email="f@example.com", attributes={**merged, "plan": "pro"}
    )
    ProfileChange.objects.create(profile=flat, attributes={"plan": "pro"})

    plan = profile_bulk.profiles_changes_send_bulk(profile_ids=[nested.id, flat.id])

    assert len(plan.jobs) == 1
    sent = json.loads(klaviyo.calls[0].request.body)["data"]["attributes"]["profiles"]["data"]
    assert [item["attributes"] for item in sent] == [
        {"email": "n@example.com", "properties": {"prefs": {"a": 1, "b": 3}}},
        {"email": "f@example.com", "properties": {"plan": "pro"}},
    ]


def test_a_job_sends_each_key_as_the_row_now_holds_it(klaviyo: responses.RequestsMock) -> None:
    """A change whose key a later write changed first (an event, while it waited for a retry)
    goes with the later value: the job doesn't undo it in Klaviyo."""
    klaviyo.post(JOBS, status=202, json=_job("queued"))
    row = Profile.objects.create(
        identity="a@example.com", email="a@example.com", attributes={"plan": "free", "n": 1}
    )
    ProfileChange.objects.create(profile=row, attributes={"plan": "free", "n": 1})
    # Then an event's attributes, sent before this change: the row written after it.
    Profile.objects.filter(id=row.id).update(
        attributes={"plan": "pro", "n": 1}, updated_at=timezone.now()
    )

    profile_bulk.profiles_changes_send_bulk(profile_ids=[row.id])

    sent = json.loads(klaviyo.calls[0].request.body)["data"]["attributes"]["profiles"]["data"]
    assert [item["attributes"] for item in sent] == [
        {"email": "a@example.com", "properties": {"plan": "pro", "n": 1}}
    ]


def test_a_backlogs_batches_wait_behind_the_follow_ups_of_its_jobs_already_sent() -> None:
    url = broker_url()
    url = FALLBACK_BROKER_URL if is_embedded(url) else url  # priorities are Redis's
    if not broker_reachable(url):
        unavailable(f"needs a Redis at {url} (CELERY_BROKER_URL or TEST_FALLBACK_BROKER_URL)")
    broker_flush(url)
    with producer_on(url):
        tasks.queue_profiles_sync(range(1, 2 * MAX_BULK_PROFILES + 2))  # 2 batches and 1 profile
        tasks._follow_job("J1", {"profiles": [[1, 2]], "changes": [[1, 2]]}, polls=0)

    # A worker's BRPOP names the queue's lists in kombu's priority order, highest first.
    client = redis.Redis.from_url(url)
    taken = []
    for key in ("celery", "celery\x06\x163", "celery\x06\x166", "celery\x06\x169"):
        while message := client.rpop(key):
            taken.append(json.loads(message)["headers"]["task"].rsplit(".", 1)[-1])
    broker_flush(url)
    assert taken == [
        "sync_profile_changes",
        "follow_profile_import_job",
        "sync_profiles_changes",
        "sync_profiles_changes",
    ]


# Committed for real: another connection holds a lock on one of the rows.
@pytest.mark.django_db(transaction=True)
def test_a_settle_cut_short_keeps_every_change_and_a_later_one_settles_the_job(
    api_client: APIClient, klaviyo: responses.RequestsMock, settings
) -> None:
    if connection.vendor != "mysql":
        pytest.skip("a row lock and its wait timeout: MySQL/MariaDB")
    key, settings.KLAVIYO_API_KEY = settings.KLAVIYO_API_KEY, ""
    ids = _bulk(
        api_client,
        [{"email": f"p{i}@example.com", "profileAttributes": {"n": i}} for i in range(3)],
    )
    settings.KLAVIYO_API_KEY = key  # stored while no key was set: their changes wait, unsent
    _job_ending_clean(klaviyo, 3)
    ((job_id, carried),) = profile_bulk.profiles_changes_send_bulk(profile_ids=ids).jobs

    # The last profile's row is held by another transaction: marking it sent times out after
    # the changes were deleted, as a worker killed at that moment would stop.
    locker = connections.create_connection("default")
    try:
        locker.set_autocommit(False)
        with locker.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM {Profile._meta.db_table} WHERE id = %s FOR UPDATE", [ids[-1]]
            )
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
        with pytest.raises(DatabaseError):
            profile_bulk.profile_import_job_settle(job_id=job_id, carried=carried)
    finally:
        locker.rollback()
        locker.close()
        # Reopened for what follows with the settings' timeout (init_command), not the server's.
        connection.close()

    assert ProfileChange.objects.filter(profile_id__in=ids).count() == 3
    assert not Profile.objects.filter(id__in=ids, sync_status=SyncStatus.SENT).exists()

    assert profile_bulk.profile_import_job_settle(job_id=job_id, carried=carried).running is None

    assert not ProfileChange.objects.filter(profile_id__in=ids).exists()
    statuses = set(Profile.objects.filter(id__in=ids).values_list("sync_status", flat=True))
    assert statuses == {SyncStatus.SENT}
