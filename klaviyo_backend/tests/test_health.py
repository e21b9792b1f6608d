"""/health: open to the orchestrator, 200 when the database answers, 503 when it doesn't."""

import copy
import socket

import pytest
from django.db import connection
from django.db.utils import load_backend

import core.health

pytestmark = pytest.mark.django_db


@pytest.fixture
def unreachable_database(monkeypatch, tmp_path, settings):
    """A real connection to a database that isn't there: a SQLite file in a folder that doesn't
    exist, or a MySQL port nothing listens on."""
    settings.CELERY_BROKER_URL = ""  # the database alone decides
    settings_dict = copy.deepcopy(connection.settings_dict)
    if connection.vendor == "sqlite":
        settings_dict["NAME"] = str(tmp_path / "no-such-folder" / "db.sqlite3")
    else:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            settings_dict["HOST"], settings_dict["PORT"] = "127.0.0.1", probe.getsockname()[1]
    broken = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, "unreachable")
    monkeypatch.setattr(core.health, "connection", broken)
    yield
    broken.close()


def test_health_answers_200_without_a_key(anonymous_client, settings):
    settings.CELERY_BROKER_URL = ""

    response = anonymous_client.get("/health")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["database"] == "ok"


def test_health_answers_503_when_the_database_is_unreachable(
    anonymous_client, unreachable_database
):
    response = anonymous_client.get("/health")

    assert response.status_code == 503
    assert response.json()["status"] == "down"
    assert response.json()["database"] == "down"


def test_a_wrong_key_does_not_matter_to_health(settings):
    from rest_framework.test import APIClient

    settings.CELERY_BROKER_URL = ""
    client = APIClient()
    client.credentials(HTTP_X_API_KEY="not-a-key")

    assert client.get("/health").status_code == 200


# --- degraded: it works, not as it should ------------------------------------------------------


@pytest.fixture
def tasks_on_a_worker():
    """Tasks go to a worker, as outside the test suite (whose tasks run in process)."""
    from celery import current_app

    previous = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = False
    yield
    current_app.conf.task_always_eager = previous


def beat(seconds_ago: float) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from core.models import WorkerHeartbeat

    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        hostname="celery@test",
        defaults={"pid": 1, "started_at": now, "seen_at": now - timedelta(seconds=seconds_ago)},
    )


def test_health_is_ok_when_a_worker_was_seen_recently(anonymous_client, tasks_on_a_worker):
    beat(seconds_ago=5)

    response = anonymous_client.get("/health")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["reasons"] == []
    assert 5 <= response.json()["workerLastSeenSeconds"] < 10


def test_health_is_degraded_when_no_worker_was_ever_seen(anonymous_client, tasks_on_a_worker):
    response = anonymous_client.get("/health")

    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["workerLastSeenSeconds"] is None
    assert response.json()["reasons"] == [
        "no worker was ever seen (HEALTH_WORKER_SILENT_SECONDS=60.0): nothing is sent"
    ]


def test_health_is_degraded_when_the_worker_went_silent(
    anonymous_client, tasks_on_a_worker, settings
):
    settings.HEALTH_WORKER_SILENT_SECONDS = 30
    beat(seconds_ago=45)

    body = anonymous_client.get("/health").json()

    assert body["status"] == "degraded"
    assert body["reasons"] == [
        "no worker seen for 45 s (HEALTH_WORKER_SILENT_SECONDS=30): nothing is sent"
    ]


def test_health_is_degraded_when_the_oldest_pending_event_is_too_old(
    anonymous_client, tasks_on_a_worker, settings
):
    from datetime import timedelta

    from django.utils import timezone

    from events.models import Event, SyncStatus
    from events.tests.factories import EventFactory

    settings.HEALTH_PENDING_MAX_AGE_SECONDS = 600
    beat(seconds_ago=1)
    old = EventFactory(sync_status=SyncStatus.PENDING)
    Event.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(seconds=700))
    EventFactory(sync_status=SyncStatus.PENDING)

    response = anonymous_client.get("/health")

    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert len(response.json()["reasons"]) == 1
    assert response.json()["reasons"][0].startswith("the oldest pending event is 70")
    assert response.json()["reasons"][0].endswith("s old (HEALTH_PENDING_MAX_AGE_SECONDS=600)")


def test_health_checks_the_embedded_brokers_folder(anonymous_client, settings, tmp_path):
    settings.CELERY_BROKER_URL = "embedded://localhost/"
    settings.EMBEDDED_BROKER_DIR = tmp_path / "db.sqlite3-broker"

    assert anonymous_client.get("/health").json()["broker"] == "ok"
    assert (tmp_path / "db.sqlite3-broker" / "queue").is_dir()

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings.EMBEDDED_BROKER_DIR = blocker / "db.sqlite3-broker"
    response = anonymous_client.get("/health")

    assert response.status_code == 503
    assert response.json()["status"] == "down"
    assert response.json()["broker"] == "down"
    assert response.json()["reasons"] == ["the broker is unreachable"]
