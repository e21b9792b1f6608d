"""GET /cleanup/stats, POST /cleanup/manual, GET /cleanup/runs[/{id}]."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from cleanup.models import PurgeOutcome, PurgeRun, PurgeTrigger
from cleanup.tasks import purge_expired_data_task
from cleanup.tests.conftest import days_ago, event_at, profile_at, running_run
from events.models import Event, Profile, SyncStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored_data() -> dict[str, object]:
    """Two expired events (one unsynced) of a profile left without events, a profile with an
    expired and a recent event, and an orphan profile."""
    gone = profile_at(days_ago(10))
    event_at(days_ago(10), gone, sync_status=SyncStatus.SENT)
    event_at(days_ago(8.5), gone, sync_status=SyncStatus.FAILED)
    kept = profile_at(days_ago(1))
    event_at(days_ago(8), kept, sync_status=SyncStatus.SENT)
    recent = event_at(days_ago(1), kept)
    orphan = profile_at(days_ago(20))
    return {"gone": gone, "kept": kept, "recent": recent, "orphan": orphan}


# --- GET /cleanup/stats ---------------------------------------------------------------------------


def test_stats_tell_what_is_stored_and_what_the_purge_would_delete(api_client, stored_data):
    previous = PurgeRun.objects.create(
        trigger=PurgeTrigger.BEAT,
        retention_days=7,
        batch_size=5000,
        outcome=PurgeOutcome.SUCCEEDED,
        events_deleted=5,
    )

    response = api_client.get("/cleanup/stats")

    assert response.status_code == 200
    body = response.json()
    assert body["totalEvents"] == 4
    assert body["eventsToDelete"] == 3
    assert body["unsyncedEventsToDelete"] == 1
    assert body["totalProfiles"] == 3
    assert body["orphanedProfiles"] == 1
    assert body["profilesToDelete"] == 2
    assert body["retentionDays"] == 7
    assert body["eventsBySyncStatus"] == {"pending": 1, "sent": 2, "failed": 1, "skipped": 0}
    cutoff = datetime.fromisoformat(body["cutoff"])
    assert abs(cutoff - days_ago(7)) < timedelta(seconds=5)
    oldest = datetime.fromisoformat(body["oldestEventReceivedAt"])
    assert abs(oldest - days_ago(10)) < timedelta(seconds=5)
    assert body["newestEventReceivedAt"] == stored_data["recent"].created_at.astimezone(
        UTC
    ).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert body["lastRun"]["id"] == previous.pk
    assert body["lastRun"]["eventsDeleted"] == 5
    assert body["schedule"]["cron"] == "0 2 * * *"
    assert body["schedule"]["enabled"] is True
    next_run = datetime.fromisoformat(body["schedule"]["nextRunAt"])
    assert (next_run.hour, next_run.minute, next_run.second) == (2, 0, 0)
    assert timezone.now() < next_run <= timezone.now() + timedelta(days=1)
    assert Event.objects.count() == 4  # stats delete nothing


def test_stats_of_an_empty_database(api_client):
    body = api_client.get("/cleanup/stats/").json()

    assert body["totalEvents"] == 0
    assert body["eventsToDelete"] == 0
    assert body["oldestEventReceivedAt"] is None
    assert body["newestEventReceivedAt"] is None
    assert body["lastRun"] is None


def test_stats_need_an_api_key(anonymous_client):
    response = anonymous_client.get("/cleanup/stats")

    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"


# --- POST /cleanup/manual -------------------------------------------------------------------------


def test_a_manual_purge_answers_the_old_keys_with_the_run(api_client, stored_data):
    response = api_client.post("/cleanup/manual", {}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["deletedEvents"] == 3
    assert body["deletedProfiles"] == 2
    assert body["dryRun"] is False
    run = PurgeRun.objects.get(pk=body["runId"])
    assert run.trigger == PurgeTrigger.MANUAL
    assert run.outcome == PurgeOutcome.SUCCEEDED
    assert body["summary"] == run.summary
    assert body["run"]["unsyncedEventsDeleted"] == 1
    assert body["run"]["outcome"] == "succeeded"
    assert list(Event.objects.values_list("id", flat=True)) == [stored_data["recent"].id]
    assert list(Profile.objects.values_list("id", flat=True)) == [stored_data["kept"].id]


def test_a_manual_purge_works_without_a_body(api_client, stored_data):
    response = api_client.post("/cleanup/manual")

    assert response.status_code == 200
    assert response.json()["deletedEvents"] == 3


def test_a_manual_purge_takes_the_days_asked_for(api_client, stored_data):
    response = api_client.post("/cleanup/manual/", {"days": 9}, format="json")

    assert response.status_code == 200
    assert response.json()["deletedEvents"] == 1  # the one 10 days old
    assert response.json()["run"]["retentionDays"] == 9
    assert Event.objects.count() == 3


def test_a_manual_dry_run_counts_and_deletes_nothing(api_client, stored_data):
    response = api_client.post("/cleanup/manual", {"dryRun": True}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert (body["deletedEvents"], body["deletedProfiles"], body["dryRun"]) == (3, 2, True)
    assert body["summary"].startswith("Dry run: 3 events")
    assert (Event.objects.count(), Profile.objects.count()) == (4, 3)


def test_an_async_purge_answers_202_and_the_run_to_follow(
    api_client, stored_data, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = api_client.post("/cleanup/manual", {"async": True}, format="json")

    assert response.status_code == 202
    body = response.json()
    run_id = body["runId"]
    assert body["url"] == f"/cleanup/runs/{run_id}"
    assert response["Location"] == f"http://testserver/cleanup/runs/{run_id}"
    assert len(queued) == 1
    # Tasks run in process here, so the run is done by the time we look.
    followed = api_client.get(body["url"])
    assert followed.status_code == 200
    assert followed.json()["outcome"] == "succeeded"
    assert followed.json()["eventsDeleted"] == 3
    assert followed.json()["trigger"] == "manual"
    assert Event.objects.count() == 1


def test_an_async_purge_is_queued_only_once_the_transaction_commits(
    api_client, stored_data, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = api_client.post(
            "/cleanup/manual", {"async": True, "dryRun": True}, format="json"
        )

    assert response.status_code == 202
    assert response.json()["outcome"] == "queued"
    assert len(queued) == 1
    run = PurgeRun.objects.get(pk=response.json()["runId"])
    assert (run.outcome, run.dry_run) == (PurgeOutcome.QUEUED, True)
    assert Event.objects.count() == 4


@pytest.mark.django_db(transaction=True)
def test_an_async_purge_answers_503_when_the_broker_is_down(api_client, stored_data, monkeypatch):
    def broker_down(*args, **kwargs):
        raise KombuOperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(purge_expired_data_task, "delay", broker_down)

    response = api_client.post("/cleanup/manual", {"async": True}, format="json")

    assert response.status_code == 503
    run = PurgeRun.objects.get()
    assert response.json()["message"] == [
        f"Could not queue the purge (run #{run.pk}): the task broker is unreachable."
    ]
    assert run.outcome == PurgeOutcome.FAILED
    assert run.error.startswith("Could not queue the purge: OperationalError: Error 111")
    assert run.summary.startswith("Failed: Could not queue")
    assert Event.objects.count() == 4


@pytest.mark.parametrize("body", [{}, {"async": True}])
def test_a_manual_purge_answers_409_while_another_runs(api_client, stored_data, body):
    other = running_run()

    response = api_client.post("/cleanup/manual", body, format="json")

    assert response.status_code == 409
    assert response.json()["error"] == "Conflict"
    assert response.json()["message"][0].startswith(f"Another purge is running (run #{other.pk}")
    assert Event.objects.count() == 4


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"days": 0}, "days must be at least 1"),
        ({"days": -3}, "days must be at least 1"),
        ({"days": 36501}, "days must be at most 36500"),
        ({"days": 10**30}, "days must be at most 36500"),
        ({"days": "7"}, "days must be an integer"),
        ({"days": 1.5}, "days must be an integer"),
        ({"days": True}, "days must be an integer"),
        ({"days": None}, "days must not be null"),
        ({"dryRun": "yes"}, "dryRun must be a boolean"),
        ({"dryRun": 1}, "dryRun must be a boolean"),
        ({"async": "true"}, "async must be a boolean"),
        ({"day": 3}, "property day should not exist"),
        ([], "body must be an object"),
    ],
)
def test_a_manual_purge_rejects_bad_input(api_client, stored_data, body, message):
    response = api_client.post("/cleanup/manual", body, format="json")

    assert response.status_code == 400
    assert response.json() == {"statusCode": 400, "message": [message], "error": "Bad Request"}
    assert not PurgeRun.objects.exists()
    assert Event.objects.count() == 4


# --- GET /cleanup/runs ----------------------------------------------------------------------------


def test_it_shows_one_run(api_client):
    run = PurgeRun.objects.create(
        trigger=PurgeTrigger.COMMAND,
        retention_days=7,
        batch_size=100,
        outcome=PurgeOutcome.FAILED,
        error="OperationalError: gone away",
        cutoff=datetime(2025, 9, 8, 10, tzinfo=UTC),
        started_at=datetime(2025, 9, 15, 10, tzinfo=UTC),
        finished_at=datetime(2025, 9, 15, 10, 0, 2, 500_000, tzinfo=UTC),
        events_deleted=10,
    )

    response = api_client.get(f"/cleanup/runs/{run.pk}")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == run.pk
    assert body["trigger"] == "command"
    assert body["outcome"] == "failed"
    assert body["cutoff"] == "2025-09-08T10:00:00.000Z"
    assert body["durationSeconds"] == 2.5
    assert body["error"] == "OperationalError: gone away"
    assert body["summary"].startswith("Failed after deleting 10 events created before 2025-09-08")


def test_an_unknown_run_is_404(api_client):
    response = api_client.get("/cleanup/runs/999999")

    assert response.status_code == 404
    assert response.json() == {
        "statusCode": 404,
        "message": ["Purge run 999999 does not exist."],
        "error": "Not Found",
    }


def test_it_lists_the_latest_runs_newest_first(api_client):
    runs = [
        PurgeRun.objects.create(trigger=PurgeTrigger.BEAT, retention_days=7, batch_size=10)
        for _ in range(3)
    ]

    response = api_client.get("/cleanup/runs?limit=2")

    assert response.status_code == 200
    assert [run["id"] for run in response.json()["runs"]] == [runs[2].pk, runs[1].pk]


@pytest.mark.parametrize(
    ("query", "message"),
    [("limit=0", "limit must be at least 1"), ("limit=101", "limit must be at most 100")],
)
def test_the_run_list_rejects_a_bad_limit(api_client, query, message):
    response = api_client.get(f"/cleanup/runs?{query}")

    assert response.status_code == 400
    assert response.json()["message"] == [message]
