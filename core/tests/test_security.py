"""Keys (hashed, constant-time, never echoed or logged), the Klaviyo key never shown, per-key
throttling, production settings and admin access."""

import hashlib
import hmac
import logging
import os
import re
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import redis
import responses
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from core.logging import REDACTED, RedactSecretsFilter, redact, request_api_key_var
from core.models import ApiKey
from core.tests.log_capture import captured_log_lines
from events.models import Event
from testkit.procs import redis_url

pytestmark = pytest.mark.django_db

KLAVIYO_KEY = "pk_0123456789abcdef0123456789abcdef01"
EVENT = {"eventName": "Purchase", "email": "ann@example.com"}


@pytest.fixture
def klaviyo_key(settings) -> str:
    settings.KLAVIYO_API_KEY = KLAVIYO_KEY
    return KLAVIYO_KEY


@pytest.fixture
def admin_key() -> tuple[ApiKey, str]:
    return ApiKey.objects.create_key(name="mobile app")


def client_with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key)
    return client


# --- client keys ----------------------------------------------------------------------------------


def test_admin_created_keys_are_stored_hashed_and_work(admin_key):
    api_key, raw = admin_key

    response = client_with(raw).post("/events", EVENT, format="json")

    assert response.status_code == 201
    stored = ApiKey.objects.filter(pk=api_key.pk).values().get()
    assert raw not in {str(value) for value in stored.values()}
    assert stored["hashed_key"] != raw
    assert stored["name"] == "mobile app"
    assert stored["created"] is not None
    assert stored["last_used_at"] is not None


def test_a_revoked_key_is_refused(admin_key):
    api_key, raw = admin_key
    ApiKey.objects.filter(pk=api_key.pk).update(revoked=True)

    response = client_with(raw).post("/events", EVENT, format="json")

    assert response.status_code == 401
    assert Event.objects.count() == 0


def test_an_expired_key_is_refused(admin_key):
    api_key, raw = admin_key
    ApiKey.objects.filter(pk=api_key.pk).update(expiry_date=timezone.now() - timedelta(days=1))

    assert client_with(raw).post("/events", EVENT, format="json").status_code == 401


def test_configured_keys_are_compared_in_constant_time(monkeypatch):
    compared = []
    original = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr("core.auth.hmac.compare_digest", spy)

    response = client_with("test-api-key").post("/events", EVENT, format="json")

    assert response.status_code == 201
    assert (b"test-api-key", b"test-api-key") in compared


def test_a_wrong_key_is_neither_echoed_nor_logged():
    wrong = "wrong-key-that-must-not-leak-42"
    with captured_log_lines() as logs:
        response = client_with(wrong).post("/events", EVENT, format="json")

    assert response.status_code == 401
    assert response.json()["statusCode"] == 401
    assert wrong not in response.content.decode()
    assert wrong not in str(response.headers)
    assert wrong not in logs.raw
    assert logs.requests()[0]["api_key"] is None


def test_the_request_line_names_the_key_but_never_shows_it(admin_key):
    _, raw = admin_key
    with captured_log_lines() as logs:
        client_with(raw).post("/events", EVENT, format="json")

    assert logs.requests()[0]["api_key"] == "mobile app"
    assert raw not in logs.raw


# --- the Klaviyo key ------------------------------------------------------------------------------


def test_the_klaviyo_key_is_in_no_response(klaviyo_key, api_client, anonymous_client):
    responses = [
        anonymous_client.get("/health"),
        anonymous_client.get("/api/schema"),
        anonymous_client.get("/metrics"),
        api_client.post("/events", EVENT, format="json"),
        api_client.post("/events", {"eventName": ""}, format="json"),
        api_client.get(f"/nothing/{klaviyo_key[:6]}"),
    ]

    for response in responses:
        assert response.status_code < 500
        assert klaviyo_key not in response.content.decode()
        assert klaviyo_key not in str(response.headers)


def test_an_unexpected_error_shows_neither_the_key_nor_the_details(klaviyo_key, monkeypatch):
    def crash(**kwargs):
        raise RuntimeError(f"Klaviyo refused key {klaviyo_key}")

    monkeypatch.setattr("events.views.event_ingest", crash)
    with captured_log_lines() as logs:
        response = client_with("test-api-key").post("/events", EVENT, format="json")

    assert response.status_code == 500
    assert response.json() == {
        "statusCode": 500,
        "message": ["Internal server error"],
        "error": "Internal Server Error",
    }
    assert "RuntimeError" in logs.raw  # the traceback is logged...
    assert klaviyo_key not in logs.raw  # ...with the key redacted
    assert REDACTED in logs.raw


@pytest.mark.parametrize("status", [400, 401, 429, 500])
def test_the_klaviyo_key_stays_hidden_even_when_klaviyo_echoes_it(
    klaviyo_key, api_client, settings, status
):
    settings.KLAVIYO_BASE_URL = "https://a.klaviyo.com/api"
    error = {"status": status, "code": "x", "title": "Bad", "detail": f"key {klaviyo_key} invalid"}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as klaviyo:
        for method in ("GET", "POST", "PATCH"):
            klaviyo.add(
                method,
                re.compile(r"https://a\.klaviyo\.com/.*"),
                json={"errors": [error]},
                status=status,
                headers={"Retry-After": "0"},
            )
        with captured_log_lines() as logs:
            answers = [
                api_client.get("/klaviyo/test-connection"),
                api_client.get("/klaviyo/metrics"),
                api_client.get("/klaviyo/profiles/a%40example.com"),
                api_client.get("/klaviyo/events"),
                api_client.post("/klaviyo/sync-test", {"email": "a@example.com"}, format="json"),
                api_client.get("/events/metrics"),
                api_client.get("/events/count", {"metric": "X", "date": "2025-06-01"}),
                api_client.post("/events", EVENT, format="json"),
            ]
        assert klaviyo.calls  # Klaviyo was asked, and answered with the key in its error

    for answer in answers:
        assert answer.status_code < 500 or answer.status_code == 502
        assert klaviyo_key not in answer.content.decode()
    assert klaviyo_key not in logs.raw
    stored = Event.objects.values_list("last_error", "klaviyo_response")
    assert all(klaviyo_key not in f"{error} {response}" for error, response in stored)


def test_every_log_line_is_redacted_message_arguments_extras_and_traceback(klaviyo_key):
    logger = logging.getLogger("klaviyo_client.client")
    with captured_log_lines() as logs:
        logger.warning("sending with %s", klaviyo_key)
        logger.info("call", extra={"headers": {"Authorization": f"Klaviyo-API-Key {klaviyo_key}"}})
        logger.info("configured keys: %s", ",".join(django_settings.API_KEYS))
        try:
            raise ValueError(f"bad key {klaviyo_key}")
        except ValueError:
            logger.exception("failed")

    assert klaviyo_key not in logs.raw
    assert "test-api-key" not in logs.raw
    entries = logs.entries()
    assert entries[0]["message"] == f"sending with {REDACTED}"
    assert entries[1]["headers"] == {"Authorization": f"Klaviyo-API-Key {REDACTED}"}
    assert "ValueError: bad key [REDACTED]" in entries[3]["exception"]


def test_secret_shapes_are_redacted_even_when_the_value_is_unknown(settings):
    settings.KLAVIYO_API_KEY = ""

    assert redact("key pk_abcdefghijklmnopqrstuvwxyz here") == f"key {REDACTED} here"
    assert redact("Authorization: Bearer abc.def") == f"Authorization: Bearer {REDACTED}"
    assert redact("{'x-api-key': 'k-123'}") == f"{{'x-api-key': '{REDACTED}'}}"
    assert redact("nothing secret, pk_short") == "nothing secret, pk_short"


def test_a_key_configured_after_a_line_was_written_is_redacted_from_the_next(settings):
    settings.API_KEYS = ["first-key-123"]
    assert redact("with first-key-123") == f"with {REDACTED}"  # the configured keys read

    settings.API_KEYS = ["second-key-456"]

    assert redact("with second-key-456, first-key-123") == f"with {REDACTED}, first-key-123"
    token = request_api_key_var.set("a-client-key-789")
    try:
        assert redact("sent a-client-key-789") == f"sent {REDACTED}"
    finally:
        request_api_key_var.reset(token)


def test_the_console_handler_has_the_redaction_filter():
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")

    assert any(isinstance(f, RedactSecretsFilter) for f in handler.filters)


# --- throttling -----------------------------------------------------------------------------------


@pytest.fixture
def tight_throttle(settings):
    settings.API_THROTTLE_RATE = "3/min"
    # A memory cache of its own, fresh for each test (whatever CACHE_URL says).
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"throttle-test-{uuid.uuid4()}",
        }
    }
    assert cache.get("anything") is None


def test_a_key_over_its_rate_gets_429_with_retry_after(tight_throttle, api_client):
    statuses = [api_client.post("/events", EVENT, format="json").status_code for _ in range(4)]

    assert statuses == [201, 201, 201, 429]
    refused = api_client.post("/events", EVENT, format="json")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    body = refused.json()
    assert body["statusCode"] == 429
    assert body["error"] == "Too Many Requests"
    assert body["message"][0].startswith("Request was throttled.")
    assert Event.objects.count() == 3  # the refused requests stored nothing


def test_each_key_has_its_own_budget(tight_throttle, api_client, admin_key):
    for _ in range(3):
        api_client.post("/events", EVENT, format="json")
    assert api_client.post("/events", EVENT, format="json").status_code == 429

    other = client_with(admin_key[1]).post("/events", EVENT, format="json")

    assert other.status_code == 201


def test_health_and_docs_are_not_throttled(tight_throttle, anonymous_client):
    statuses = {anonymous_client.get("/health").status_code for _ in range(5)}

    assert statuses == {200}


def test_throttle_counts_live_in_redis_when_configured(settings):
    """With CACHE_URL on Redis, every gunicorn worker and host counts against one budget."""
    url = redis_url()
    settings.CACHES = {"default": {"BACKEND": "core.cache.RedisCache", "LOCATION": url}}
    settings.API_THROTTLE_RATE = "3/min"
    name = f"redis-throttled-{uuid.uuid4().hex[:12]}"
    _, raw = ApiKey.objects.create_key(name=name)
    client = client_with(raw)

    statuses = [client.post("/events", EVENT, format="json").status_code for _ in range(4)]

    assert statuses == [201, 201, 201, 429]
    stored = redis.Redis.from_url(url)
    [key] = stored.keys(f"*throttle:{hashlib.sha256(name.encode()).hexdigest()[:24]}:*")
    assert int(stored.get(key)) == 4  # the refused request counted too
    assert 0 < stored.ttl(key) <= 61  # the window's counter goes with the window
    stored.delete(key)  # only this key: the database may be the broker's


def test_throttling_lets_requests_through_when_its_cache_is_down(settings, api_client):
    settings.API_THROTTLE_RATE = "1/min"
    # A Redis nobody listens on: every cache call fails at once.
    settings.CACHES = {
        "default": {
            "BACKEND": "core.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }

    statuses = [api_client.post("/events", EVENT, format="json").status_code for _ in range(3)]

    assert statuses == [201, 201, 201]


def test_no_rate_means_no_limit(settings, api_client):
    settings.API_THROTTLE_RATE = ""

    statuses = {api_client.post("/events", EVENT, format="json").status_code for _ in range(5)}

    assert statuses == {201}


# --- production settings and admin ----------------------------------------------------------------


def run_with_env(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **{k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")},
        "DJANGO_SETTINGS_MODULE": "klaviyo_backend.settings",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        env=environment,
        capture_output=True,
        text=True,
        cwd=Path(django_settings.BASE_DIR),
        timeout=120,
    )


def test_production_settings_pass_check_deploy_with_no_warning():
    result = run_with_env(
        "import django; django.setup()\n"
        "from django.core.management import call_command\n"
        "call_command('check', deploy=True, fail_level='WARNING')\n"
        "from django.conf import settings as s\n"
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT,"
        " s.SECURE_HSTS_SECONDS, s.ALLOWED_HOSTS)\n",
        DEBUG="false",
        SECRET_KEY="a-long-random-production-secret-" + "x7Qp2LmZ9vB4nR8kT1wY6cF3hJ5" * 2,
        ALLOWED_HOSTS="events.example.com",
    )

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    assert "True True True 31536000 ['events.example.com']" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    result = run_with_env("import django; django.setup()", DEBUG="false", SECRET_KEY="")

    assert result.returncode != 0
    assert "SECRET_KEY: must be set when DEBUG is off" in result.stderr


def test_the_admin_is_for_staff_only(client):
    user_model = get_user_model()
    user_model.objects.create_user("clerk", password="pw-clerk-123", is_staff=False)
    user_model.objects.create_user("ops", password="pw-ops-123", is_staff=True)

    anonymous = client.get("/admin/")
    # Through the login form: django-axes needs the request to count failures.
    client.post("/admin/login/", {"username": "clerk", "password": "pw-clerk-123"})
    not_staff = client.get("/admin/")
    client.logout()
    client.post("/admin/login/", {"username": "ops", "password": "pw-ops-123"})
    staff = client.get("/admin/")

    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/admin/login/")
    assert not_staff.status_code == 302
    assert not_staff["Location"].startswith("/admin/login/")
    assert staff.status_code == 200


def test_an_api_key_does_not_open_the_admin(client):
    response = client.get("/admin/", HTTP_X_API_KEY="test-api-key")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"API_THROTTLE_RATE": "5/fortnight"}, "API_THROTTLE_RATE='5/fortnight': must look like"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT='xml': must be one of json, plain"),
    ],
)
def test_bad_hardening_settings_fail_at_start(env, message):
    result = run_with_env("import django; django.setup()", **env)

    assert result.returncode != 0
    assert message in result.stderr


def test_the_service_refuses_to_start_naming_every_bad_knob():
    # The values that used to load silently; every knob's rule: klaviyo_backend/tests/.
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        env={
            **os.environ,
            "BULK_MAX_EVENTS": "0",
            "SYNC_SWEEP_INTERVAL_SECONDS": "0",
            "SYNC_STALE_PENDING_SECONDS": "-5",
            "KLAVIYO_BULK_MIN_EVENTS": "-1",
        },
        capture_output=True,
        text=True,
        cwd=Path(django_settings.BASE_DIR),
        timeout=120,
    )

    assert result.returncode != 0
    assert "System check" not in result.stdout
    for line in (
        "BULK_MAX_EVENTS='0': must be at least 1",
        "SYNC_SWEEP_INTERVAL_SECONDS='0': must be at least 1",
        "SYNC_STALE_PENDING_SECONDS='-5': must be at least 60",
        "KLAVIYO_BULK_MIN_EVENTS='-1': must be at least 1",
    ):
        assert line in result.stderr


def test_every_answer_carries_a_content_security_policy_without_inline_scripts(client, api_client):
    answers = [client.get("/api"), client.get("/admin/login/"), api_client.get("/events/metrics")]

    for answer in answers:
        policy = dict(
            directive.strip().split(" ", 1)
            for directive in answer["Content-Security-Policy"].split(";")
        )
        assert policy["default-src"] == "'self'"
        assert "'unsafe-inline'" not in policy["script-src"]
        assert "'unsafe-eval'" not in policy["script-src"]
        assert policy["frame-ancestors"] == "'none'"
        assert policy["object-src"] == "'none'"


def test_the_docs_set_up_script_is_a_file_of_its_own(client):
    page = client.get("/api")
    script = client.get("/api?script=")

    assert b"<script>" not in page.content
    assert b'src="/api?script=' in page.content
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content
