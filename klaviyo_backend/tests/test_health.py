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
    assert response.json()["status"] == "degraded"
    assert response.json()["database"] == "down"


def test_a_wrong_key_does_not_matter_to_health(settings):
    from rest_framework.test import APIClient

    settings.CELERY_BROKER_URL = ""
    client = APIClient()
    client.credentials(HTTP_X_API_KEY="not-a-key")

    assert client.get("/health").status_code == 200
