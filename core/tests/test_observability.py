"""Request ids, the per-request log line, JSON logs, /health and /metrics."""

import logging
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.parser import text_string_to_metric_families

from cleanup.models import PurgeOutcome, PurgeRun, PurgeTrigger
from core.logging import JsonFormatter
from core.metrics import KNOWN_METHODS, metrics_multiprocess_dir_prepare
from core.tests.log_capture import captured_log_lines
from events.consent_services import consent_change_create
from events.models import ConsentChange, Event, SyncStatus
from events.tests.factories import EventFactory

pytestmark = pytest.mark.django_db

EVENT = {"eventName": "Purchase", "email": "ann@example.com", "eventAttributes": {"amount": 5}}


def samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus exposition, by (name, sorted labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return samples(response.content)


# --- request id and request log line --------------------------------------------------------------


def test_it_gives_every_request_an_id_and_answers_it(api_client):
    response = api_client.get("/health")

    request_id = response["X-Request-ID"]
    assert len(request_id) == 32
    assert int(request_id, 16) >= 0


def test_it_keeps_the_clients_request_id(api_client):
    response = api_client.get("/health", HTTP_X_REQUEST_ID="checkout-7f3a.1")

    assert response["X-Request-ID"] == "checkout-7f3a.1"


@pytest.mark.parametrize("bad_id", ["has space", "x" * 129, "line\nbreak", "ünïcode", "a;b"])
def test_it_replaces_a_request_id_that_is_not_an_id(api_client, bad_id):
    response = api_client.get("/health", HTTP_X_REQUEST_ID=bad_id)

    assert response["X-Request-ID"] != bad_id
    assert len(response["X-Request-ID"]) == 32


def test_it_writes_one_json_line_per_request_with_the_key_name(api_client):
    with captured_log_lines() as logs:
        response = api_client.post("/events", EVENT, format="json", HTTP_X_REQUEST_ID="req-1")

    assert response.status_code == 201
    [line] = logs.requests()
    assert line["method"] == "POST"
    assert line["path"] == "/events"
    assert line["status"] == 201
    assert line["api_key"] == "env-key-1"
    assert line["request_id"] == "req-1"
    assert line["level"] == "INFO"
    assert isinstance(line["duration_ms"], float)
    assert line["duration_ms"] >= 0
    assert line["time"].endswith("Z")


def test_the_request_line_has_no_key_name_for_an_anonymous_request(anonymous_client):
    with captured_log_lines() as logs:
        response = anonymous_client.post("/events", EVENT, format="json")

    assert response.status_code == 401
    [line] = logs.requests()
    assert line["status"] == 401
    assert line["api_key"] is None


def test_a_request_refused_before_any_view_is_still_logged(api_client, settings):
    settings.MAX_REQUEST_BYTES = 100
    with captured_log_lines() as logs:
        response = api_client.post("/events", {**EVENT, "pad": "x" * 200}, format="json")

    assert response.status_code == 413
    [line] = logs.requests()
    assert line["status"] == 413
    assert line["request_id"] == response["X-Request-ID"]


def test_lines_logged_while_serving_a_request_carry_its_id(api_client, monkeypatch):
    import events.views

    def ingest_and_log(**kwargs):
        logging.getLogger("events.services").warning("ingesting")
        return original(**kwargs)

    original = events.views.event_ingest
    monkeypatch.setattr(events.views, "event_ingest", ingest_and_log)
    with captured_log_lines() as logs:
        api_client.post("/events", EVENT, format="json", HTTP_X_REQUEST_ID="req-2")

    inner = next(e for e in logs.entries() if e["message"] == "ingesting")
    assert inner["request_id"] == "req-2"
    assert inner["logger"] == "events.services"


def test_the_json_formatter_writes_extra_fields_and_the_traceback():
    record = logging.LogRecord("klaviyo", logging.ERROR, __file__, 1, "call %s", ("x",), None)
    record.endpoint = "/api/events"
    record.attempt = 2
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()

    import json

    entry = json.loads(JsonFormatter().format(record))

    assert entry["message"] == "call x"
    assert entry["endpoint"] == "/api/events"
    assert entry["attempt"] == 2
    assert "ValueError: boom" in entry["exception"]


# --- /health --------------------------------------------------------------------------------------


def test_health_reports_database_key_presence_backlog_and_failures(anonymous_client, settings):
    settings.CELERY_BROKER_URL = ""
    settings.KLAVIYO_API_KEY = "pk_live_secret_value_1234567890"
    pending = EventFactory(sync_status=SyncStatus.PENDING)
    Event.objects.filter(pk=pending.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    EventFactory(sync_status=SyncStatus.PENDING)
    EventFactory.create_batch(2, sync_status=SyncStatus.FAILED)
    EventFactory(sync_status=SyncStatus.SENT)

    response = anonymous_client.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["broker"] is None
    assert body["klaviyoApiKey"] is True
    assert body["failedEvents"] == 2
    assert 300 <= body["oldestPendingEventAgeSeconds"] < 600
    assert settings.KLAVIYO_API_KEY not in response.content.decode()


def test_health_has_no_pending_age_when_nothing_is_pending(anonymous_client, settings):
    settings.KLAVIYO_API_KEY = ""
    EventFactory(sync_status=SyncStatus.SENT)

    body = anonymous_client.get("/health").json()

    assert body["oldestPendingEventAgeSeconds"] is None
    assert body["failedEvents"] == 0
    assert body["klaviyoApiKey"] is False


def test_health_answers_503_when_the_broker_is_down(anonymous_client, settings):
    # Nothing listens on port 1: the connection is refused at once.
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"

    response = anonymous_client.get("/health")

    assert response.status_code == 503
    assert response.json()["broker"] == "down"
    assert response.json()["database"] == "ok"
    assert response.json()["status"] == "down"


def test_health_answers_503_when_the_database_is_down(anonymous_client, settings, monkeypatch):
    settings.CELERY_BROKER_URL = ""
    import core.health

    def refuse() -> None:
        raise OperationalError("(2002) Can't connect to server")

    monkeypatch.setattr(core.health.connection, "cursor", refuse)

    response = anonymous_client.get("/health")

    assert response.status_code == 503
    assert response.json() == {
        "status": "down",
        "reasons": ["the database is unreachable"],
        "database": "down",
        "broker": None,
        "workerLastSeenSeconds": None,
        "klaviyoApiKey": bool(settings.KLAVIYO_API_KEY),
        "oldestPendingEventAgeSeconds": None,
        "failedEvents": None,
    }


# --- /metrics -------------------------------------------------------------------------------------


def test_metrics_count_accepted_events_single_and_bulk(
    api_client, django_capture_on_commit_callbacks
):
    accepted = ("klaviyo_backend_events_accepted_total", ())
    before = scrape(api_client)[accepted]

    # Counted on commit: the test's transaction never commits, so the callbacks run here.
    with django_capture_on_commit_callbacks(execute=True):
        api_client.post("/events", EVENT, format="json")
        api_client.post(
            "/events/bulk",
            {"events": [EVENT, {**EVENT, "uniqueId": "u1"}, {**EVENT, "uniqueId": "u1"}]},
            format="json",
        )
        api_client.post("/events", {**EVENT, "uniqueId": "u1"}, format="json")  # a repeat
        api_client.post("/events", {**EVENT, "email": "bad"}, format="json")  # refused

    assert scrape(api_client)[accepted] - before == 3
    assert Event.objects.count() == 3


def test_metrics_count_requests_by_route_and_status(api_client, anonymous_client):
    key = ("klaviyo_backend_http_requests_total", None)
    labels = (("method", "POST"), ("route", "events-list"), ("status", "401"))
    before = scrape(api_client).get((key[0], labels), 0)

    anonymous_client.post("/events", EVENT, format="json")
    anonymous_client.post("/events/", EVENT, format="json")
    after = scrape(api_client)

    assert after[(key[0], labels)] - before == 2
    duration = (
        "klaviyo_backend_http_request_duration_seconds_count",
        (("method", "POST"), ("route", "events-list")),
    )
    assert after[duration] >= 2


def test_metrics_label_unknown_paths_as_one_route(api_client):
    api_client.get("/no/such/path/123")
    api_client.get("/another/456")

    routes = {dict(labels).get("route") for name, labels in scrape(api_client)}
    assert "not_found" in routes
    assert not any(route and "456" in route for route in routes)


def test_invented_methods_and_paths_add_no_series(api_client, anonymous_client):
    """Anonymous traffic with made-up methods and paths must not grow /metrics: labels come
    only from known methods and route names."""

    def invent(round_: int) -> None:
        for index in range(20):
            anonymous_client.generic(f"X{round_}M{index}", f"/invented/{round_}/{index}")
            anonymous_client.generic(f"PURGE{round_}{index}", "/events")
            anonymous_client.get(f"/events/{round_}-{index}/x")
            anonymous_client.post(f"/no-such-{round_}-{index}", {}, format="json")

    invent(0)  # the first of each kind opens its (bounded) series
    scrape(api_client)  # and so does the scrape itself
    before = scrape(api_client)
    invent(1)
    after = scrape(api_client)

    assert set(after) == set(before)
    methods = {dict(labels).get("method") for _, labels in after} - {None}
    assert methods <= KNOWN_METHODS | {"other"}
    other = (("method", "other"), ("route", "not_found"), ("status", "404"))
    assert after[("klaviyo_backend_http_requests_total", other)] >= 40


def test_metrics_read_the_pipeline_state_from_the_database(api_client):
    now = timezone.now()
    old = EventFactory(sync_status=SyncStatus.PENDING)
    Event.objects.filter(pk=old.pk).update(created_at=now - timedelta(seconds=120))
    EventFactory(sync_status=SyncStatus.FAILED)
    for seconds in (1, 2, 3, 4, 100):
        sent = EventFactory(sync_status=SyncStatus.SENT)
        Event.objects.filter(pk=sent.pk).update(
            created_at=now - timedelta(seconds=200),
            synced_at=now - timedelta(seconds=200 - seconds),
        )
    EventFactory(sync_status=SyncStatus.SKIPPED)

    metrics = scrape(api_client)

    def events(status: str) -> float:
        return metrics[("klaviyo_backend_events", (("sync_status", status),))]

    assert (events("pending"), events("sent"), events("failed"), events("skipped")) == (1, 5, 1, 1)
    assert metrics[("klaviyo_backend_database_up", ())] == 1
    assert 120 <= metrics[("klaviyo_backend_events_pending_oldest_age_seconds", ())] < 300
    assert metrics[("klaviyo_backend_sync_latency_window_events", ())] == 5
    latency = "klaviyo_backend_sync_latency_seconds"
    assert metrics[(latency, (("quantile", "0.5"),))] == pytest.approx(3, abs=0.01)
    assert metrics[(latency, (("quantile", "0.99"),))] == pytest.approx(100, abs=0.01)


def test_metrics_report_the_last_finished_purge(api_client):
    now = timezone.now()
    common = {"trigger": PurgeTrigger.BEAT, "retention_days": 7, "batch_size": 5000}
    PurgeRun.objects.create(
        **common,
        outcome=PurgeOutcome.SUCCEEDED,
        events_deleted=10,
        started_at=now - timedelta(days=1, seconds=5),
        finished_at=now - timedelta(days=1),
    )
    PurgeRun.objects.create(
        **common,
        outcome=PurgeOutcome.SUCCEEDED,
        events_deleted=120,
        unsynced_events_deleted=3,
        profiles_deleted=7,
        started_at=now - timedelta(seconds=12),
        finished_at=now - timedelta(seconds=10),
    )
    PurgeRun.objects.create(**common, dry_run=True, outcome=PurgeOutcome.SUCCEEDED, finished_at=now)
    # A run that found the lock taken did no purge: it is not "the last purge", nor a failure.
    PurgeRun.objects.create(**common, outcome=PurgeOutcome.SKIPPED, started_at=now, finished_at=now)

    metrics = scrape(api_client)

    deleted = "klaviyo_backend_purge_last_deleted"
    assert metrics[(deleted, (("kind", "events"),))] == 120
    assert metrics[(deleted, (("kind", "unsynced_events"),))] == 3
    assert metrics[(deleted, (("kind", "profiles"),))] == 7
    assert metrics[("klaviyo_backend_purge_last_succeeded", ())] == 1
    assert metrics[("klaviyo_backend_purge_last_duration_seconds", ())] == pytest.approx(2)
    finished = metrics[("klaviyo_backend_purge_last_finished_timestamp_seconds", ())]
    assert finished == pytest.approx((now - timedelta(seconds=10)).timestamp())


def test_metrics_say_the_database_is_down_instead_of_failing(api_client, monkeypatch):
    import core.metrics

    def refuse(*args, **kwargs):
        raise OperationalError("(2013) Lost connection")

    monkeypatch.setattr(core.metrics.PipelineCollector, "_pipeline_families", refuse)

    metrics = scrape(api_client)

    assert metrics[("klaviyo_backend_database_up", ())] == 0
    assert ("klaviyo_backend_http_requests_total", ()) not in metrics  # process metrics remain
    assert any(name == "klaviyo_backend_http_requests_total" for name, _ in metrics)


def test_metrics_need_the_token_when_one_is_set(anonymous_client, settings):
    settings.METRICS_TOKEN = "scrape-token-123"

    refused = anonymous_client.get("/metrics")
    wrong = anonymous_client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    allowed = anonymous_client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token-123")

    assert refused.status_code == 401
    assert refused.json()["statusCode"] == 401
    assert wrong.status_code == 401
    assert allowed.status_code == 200


def test_metrics_are_open_without_a_token(anonymous_client, settings):
    settings.METRICS_TOKEN = ""

    assert anonymous_client.get("/metrics").status_code == 200


def test_workers_counts_add_up_in_multiprocess_mode(tmp_path, monkeypatch):
    """Each gunicorn worker writes its counts to PROMETHEUS_MULTIPROC_DIR; a scrape adds them."""
    directory = tmp_path / "prometheus"
    directory.mkdir()
    (directory / "counter_999.db").write_bytes(b"stale")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    assert metrics_multiprocess_dir_prepare() == str(directory)
    assert not (directory / "counter_999.db").exists()  # nothing left from an earlier run

    worker = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "for _ in range(3): Client().get('/no-such-page')\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "klaviyo_backend.settings",
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
    }
    for _ in range(2):  # two worker processes
        subprocess.run(
            [sys.executable, "-c", worker], env=env, check=True, cwd=Path(settings.BASE_DIR)
        )

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(directory))
    counts = samples(generate_latest(registry))

    labels = (("method", "GET"), ("route", "not_found"), ("status", "404"))
    assert counts[("klaviyo_backend_http_requests_total", labels)] == 6


def test_celery_workers_log_through_the_json_handler():
    from klaviyo_backend.celery import app

    assert app.conf.worker_hijack_root_logger is False


def test_metrics_answer_other_methods_with_405_in_the_error_shape(anonymous_client):
    response = anonymous_client.post("/metrics")

    assert response.status_code == 405
    assert response.json()["statusCode"] == 405
    assert response["Allow"] == "GET"


def test_metrics_report_consent_changes_by_status_and_the_oldest_pending(api_client):
    first = consent_change_create(kind="suppress", addresses=[{"email": "a@x.io"}])
    consent_change_create(kind="suppress", addresses=[{"email": "b@x.io"}])
    sent = consent_change_create(kind="unsuppress", addresses=[{"email": "c@x.io"}])
    ConsentChange.objects.filter(id=sent.id).update(status="sent")
    ConsentChange.objects.filter(id=first.id).update(
        created_at=timezone.now() - timedelta(minutes=3)
    )

    metrics = scrape(api_client)

    def changes(status: str) -> float:
        return metrics[("klaviyo_backend_consent_changes", (("status", status),))]

    assert (changes("pending"), changes("sent"), changes("failed")) == (2, 1, 0)
    oldest = metrics[("klaviyo_backend_consent_changes_pending_oldest_age_seconds", ())]
    assert 180 <= oldest < 300
