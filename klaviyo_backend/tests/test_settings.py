"""Every knob is checked when the settings load: a bad value stops the start with a message that
names it (and every other bad one), a good one loads. The settings file runs here in process, on
an environment of the test's making; core/tests/test_security.py starts real processes."""

import re
import runpy
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

import klaviyo_backend.env
from klaviyo_backend import settings as loaded_settings
from klaviyo_sync.services import retry_delay

SETTINGS_FILE = Path(loaded_settings.__file__)
ENV_EXAMPLE = SETTINGS_FILE.parent.parent / ".env.example"
# Free text, where any value is a good one (emptiness has its own meaning or rule).
FREE_TEXT = {"API_KEYS", "KLAVIYO_API_KEY", "METRICS_TOKEN"}


@pytest.fixture
def clean_environment(monkeypatch):
    """No knob set, and no .env file read: only what the test sets."""
    for name in knobs_read():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(klaviyo_backend.env.environ.Env, "read_env", lambda *a, **k: None)
    return monkeypatch


def knobs_read() -> set[str]:
    return set(re.findall(r'env\.\w+\(\s*"([A-Z][A-Z0-9_]+)"', SETTINGS_FILE.read_text()))


def settings_load(monkeypatch, **environment: str) -> dict:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS_FILE))


BAD_VALUES = [
    ("DEBUG", "maybe", "DEBUG='maybe': must be true or false"),
    ("ALLOWED_HOSTS", " , ", "ALLOWED_HOSTS: must name at least one host"),
    ("CSRF_TRUSTED_ORIGINS", "events.example.com", "must start with http:// or https://"),
    ("PORT", "0", "PORT='0': must be at least 1"),
    ("PORT", "70000", "PORT='70000': must be at most 65,535"),
    ("PORT", "http", "PORT='http': must be an integer"),
    ("DATABASE_URL", "postgres://u@db/app", "DATABASE_URL: must start with sqlite:// or mysql://"),
    ("DATABASE_URL", "mysql://root@db:port/app", "DATABASE_URL: is not a URL (Port could not"),
    ("DB_CONN_MAX_AGE", "-1", "DB_CONN_MAX_AGE='-1': must be at least 0"),
    ("MAX_REQUEST_BYTES", "0", "MAX_REQUEST_BYTES='0': must be at least 1,024"),
    ("REQUEST_BODY_TIMEOUT_SECONDS", "0", "REQUEST_BODY_TIMEOUT_SECONDS='0': must be above 0"),
    ("WEB_CONCURRENCY", "0", "WEB_CONCURRENCY='0': must be at least 1"),
    ("API_KEY_FAILURE_RATE", "10 per minute", "API_KEY_FAILURE_RATE='10 per minute': must look"),
    ("TRUSTED_PROXY_COUNT", "-1", "TRUSTED_PROXY_COUNT='-1': must be at least 0"),
    ("ADMIN_LOGIN_FAILURE_LIMIT", "0", "ADMIN_LOGIN_FAILURE_LIMIT='0': must be at least 1"),
    ("ADMIN_LOCKOUT_MINUTES", "0", "ADMIN_LOCKOUT_MINUTES='0': must be at least 1"),
    ("WEB_THREADS", "many", "WEB_THREADS='many': must be an integer"),
    ("SECURE_SSL_REDIRECT", "sometimes", "SECURE_SSL_REDIRECT='sometimes': must be true or"),
    ("SECURE_HSTS_SECONDS", "-1", "SECURE_HSTS_SECONDS='-1': must be at least 0"),
    ("LOG_LEVEL", "LOUD", "LOG_LEVEL='LOUD': must be one of DEBUG, INFO, WARNING"),
    ("LOG_FORMAT", "xml", "LOG_FORMAT='xml': must be one of json, plain"),
    ("BULK_MAX_EVENTS", "0", "BULK_MAX_EVENTS='0': must be at least 1"),
    ("BULK_MAX_PROFILES", "100001", "BULK_MAX_PROFILES='100001': must be at most 100,000"),
    ("API_THROTTLE_RATE", "5/fortnight", "API_THROTTLE_RATE='5/fortnight': must look like"),
    ("API_THROTTLE_RATE", "0/min", "API_THROTTLE_RATE='0/min': must look like 12000/min"),
    ("CACHE_URL", "memcache://cache:11211", "CACHE_URL: must start with redis://"),
    ("CACHE_URL", "redis://", "CACHE_URL: must name a host"),
    ("READS_KLAVIYO_BUDGET_SECONDS", "0", "READS_KLAVIYO_BUDGET_SECONDS='0': must be above 0"),
    ("READS_KLAVIYO_BUDGET_SECONDS", "61", "READS_KLAVIYO_BUDGET_SECONDS='61': must be at most"),
    ("READS_KLAVIYO_CACHE_SECONDS", "-1", "READS_KLAVIYO_CACHE_SECONDS='-1': must be at least"),
    ("CELERY_BROKER_URL", "amqp://broker", "CELERY_BROKER_URL: must start with redis://"),
    ("CELERY_VISIBILITY_TIMEOUT", "0", "CELERY_VISIBILITY_TIMEOUT='0': must be at least 1"),
    ("EMBEDDED_BROKER_DIR", "db-broker", "EMBEDDED_BROKER_DIR='db-broker': must be an absolute"),
    ("EMBEDDED_BROKER_POLL_SECONDS", "0", "EMBEDDED_BROKER_POLL_SECONDS='0': must be at least"),
    ("EMBEDDED_BROKER_POLL_SECONDS", "11", "EMBEDDED_BROKER_POLL_SECONDS='11': must be at most"),
    ("WORKER_HEARTBEAT_SECONDS", "0", "WORKER_HEARTBEAT_SECONDS='0': must be at least 0.1"),
    (
        "HEALTH_WORKER_SILENT_SECONDS",
        "20",
        "HEALTH_WORKER_SILENT_SECONDS: must be at least twice the",
    ),
    ("HEALTH_PENDING_MAX_AGE_SECONDS", "0", "HEALTH_PENDING_MAX_AGE_SECONDS='0': must be at least"),
    ("KLAVIYO_BASE_URL", "a.klaviyo.com/api", "KLAVIYO_BASE_URL: must start with https://"),
    ("KLAVIYO_BASE_URL", "", "KLAVIYO_BASE_URL: must not be empty"),
    ("KLAVIYO_REVISION", "latest", "KLAVIYO_REVISION='latest': must look like 2026-07-15"),
    ("KLAVIYO_CONNECT_TIMEOUT", "0", "KLAVIYO_CONNECT_TIMEOUT='0': must be above 0"),
    ("KLAVIYO_READ_TIMEOUT", "nan", "KLAVIYO_READ_TIMEOUT='nan': must be a number"),
    ("SYNC_SWEEP_INTERVAL_SECONDS", "0", "SYNC_SWEEP_INTERVAL_SECONDS='0': must be at least 1"),
    ("SYNC_QUEUE_WINDOW_MS", "1001", "SYNC_QUEUE_WINDOW_MS='1001': must be at most 1,000"),
    ("SYNC_STALE_PENDING_SECONDS", "59", "SYNC_STALE_PENDING_SECONDS='59': must be at least 60"),
    ("SYNC_SWEEP_MAX_EVENTS", "0", "SYNC_SWEEP_MAX_EVENTS='0': must be at least 1"),
    ("KLAVIYO_MAX_ATTEMPTS", "0", "KLAVIYO_MAX_ATTEMPTS='0': must be at least 1"),
    ("KLAVIYO_RETRY_BASE_DELAY", "-1", "KLAVIYO_RETRY_BASE_DELAY='-1': must be at least 0"),
    ("KLAVIYO_RETRY_MAX_DELAY", "4", "KLAVIYO_RETRY_MAX_DELAY: must be at least KLAVIYO_RETRY"),
    ("KLAVIYO_RETRY_MAX_DELAY", "3500", "below 90% of CELERY_VISIBILITY_TIMEOUT"),
    ("KLAVIYO_RETRY_JITTER", "1", "KLAVIYO_RETRY_JITTER='1': must be at most 0.99"),
    ("KLAVIYO_SEND_LEASE_SECONDS", "300", "KLAVIYO_SEND_LEASE_SECONDS: is derived"),
    ("KLAVIYO_BULK_BATCH_SIZE", "1001", "KLAVIYO_BULK_BATCH_SIZE='1001': must be at most 1,000"),
    ("KLAVIYO_BULK_MAX_BYTES", "6000000", "KLAVIYO_BULK_MAX_BYTES='6000000': must be at most"),
    ("KLAVIYO_BULK_MIN_EVENTS", "-1", "KLAVIYO_BULK_MIN_EVENTS='-1': must be at least 1"),
    ("KLAVIYO_RATE_LIMIT_ENABLED", "perhaps", "KLAVIYO_RATE_LIMIT_ENABLED='perhaps': must be"),
    ("KLAVIYO_RATE_LIMIT_REDIS_URL", "http://cache", "KLAVIYO_RATE_LIMIT_REDIS_URL: must start"),
    ("KLAVIYO_RATE_LIMIT_EVENTS", "350/fortnight", "KLAVIYO_RATE_LIMIT_EVENTS='350/fortnight'"),
    ("KLAVIYO_RATE_LIMIT_BULK_EVENTS", "0/s", "KLAVIYO_RATE_LIMIT_BULK_EVENTS='0/s': '0/s' is"),
    ("KLAVIYO_RATE_LIMIT_PROFILE_IMPORT", "", "KLAVIYO_RATE_LIMIT_PROFILE_IMPORT='': '' is not"),
    ("KLAVIYO_RATE_LIMIT_MARGIN", "-0.1", "KLAVIYO_RATE_LIMIT_MARGIN='-0.1': must be at least"),
    ("KLAVIYO_RATE_LIMIT_MAX_WAIT", "-1", "KLAVIYO_RATE_LIMIT_MAX_WAIT='-1': must be at least"),
    ("DATA_RETENTION_DAYS", "0", "DATA_RETENTION_DAYS='0': must be at least 1"),
    ("PURGE_CRON", "0 2 * *", "PURGE_CRON='0 2 * *': must be five crontab fields"),
    ("PURGE_CRON", "99 2 * * *", "PURGE_CRON='99 2 * * *': must be five crontab fields"),
    ("DASHBOARD_REFRESH_SECONDS", "4", "DASHBOARD_REFRESH_SECONDS='4': must be at least 5"),
    ("PURGE_BATCH_SIZE", "0", "PURGE_BATCH_SIZE='0': must be at least 1"),
    ("PURGE_LOCK_STALE_SECONDS", "0", "PURGE_LOCK_STALE_SECONDS='0': must be at least 1"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD_VALUES)
def test_a_bad_value_stops_the_start_with_a_message_naming_it(
    clean_environment, name, value, message
):
    with pytest.raises(ImproperlyConfigured) as failure:
        settings_load(clean_environment, **{name: value})

    assert message in str(failure.value)


def test_a_secret_key_is_required_when_debug_is_off(clean_environment):
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY: must be set when DEBUG is off"):
        settings_load(clean_environment, DEBUG="false", SECRET_KEY="")


def test_every_bad_value_is_named_in_one_message(clean_environment):
    with pytest.raises(ImproperlyConfigured) as failure:
        settings_load(
            clean_environment,
            BULK_MAX_EVENTS="0",
            SYNC_SWEEP_INTERVAL_SECONDS="0",
            SYNC_STALE_PENDING_SECONDS="-5",
            KLAVIYO_BULK_MIN_EVENTS="-1",
        )

    lines = str(failure.value).splitlines()
    assert lines[0] == "Bad settings (each is described in .env.example):"
    assert lines[1:] == [
        "  - BULK_MAX_EVENTS='0': must be at least 1",
        "  - SYNC_SWEEP_INTERVAL_SECONDS='0': must be at least 1",
        "  - SYNC_STALE_PENDING_SECONDS='-5': must be at least 60",
        "  - KLAVIYO_BULK_MIN_EVENTS='-1': must be at least 1",
    ]


def test_a_url_with_a_password_is_named_but_not_shown(clean_environment):
    with pytest.raises(ImproperlyConfigured) as failure:
        settings_load(clean_environment, CELERY_BROKER_URL="amqp://user:s3cret@broker:5672//")

    assert "CELERY_BROKER_URL" in str(failure.value)
    assert "s3cret" not in str(failure.value)


def test_no_knob_set_loads_the_documented_defaults(clean_environment):
    loaded = settings_load(clean_environment)

    assert loaded["DEBUG"] is True
    assert loaded["BULK_MAX_EVENTS"] == 1000
    assert loaded["SYNC_SWEEP_INTERVAL_SECONDS"] == 10
    assert loaded["KLAVIYO_SEND_LEASE_SECONDS"] == 49
    assert loaded["KLAVIYO_BULK_MIN_EVENTS"] == 24
    assert loaded["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert loaded["CACHES"]["default"]["BACKEND"] == "core.cache.LocMemCache"
    # No broker: the embedded one, beside the database; tasks are never eager outside tests.
    assert loaded["EMBEDDED_BROKER"] is True
    assert loaded["CELERY_BROKER_URL"] == "embedded://localhost/"
    database = Path(loaded["DATABASES"]["default"]["NAME"])
    assert loaded["EMBEDDED_BROKER_DIR"] == database.with_name("db.sqlite3-broker").resolve()
    assert "CELERY_TASK_ALWAYS_EAGER" not in loaded
    assert loaded["KLAVIYO_RATE_LIMIT_REDIS_URL"] == ""


def test_good_values_at_the_edges_load_as_written(clean_environment):
    loaded = settings_load(
        clean_environment,
        DEBUG="off",
        SECRET_KEY="s" * 50,
        LOG_LEVEL="warning",
        PORT="65535",
        READS_KLAVIYO_CACHE_SECONDS="0",
        KLAVIYO_BULK_MIN_EVENTS="1",
        KLAVIYO_RETRY_JITTER="0",
        API_THROTTLE_RATE="",
        SYNC_SWEEP_MAX_EVENTS="1_000",
        DATABASE_URL="mysql://app:pw@db:3306/events",
        CELERY_BROKER_URL="redis://redis:6379/0",
        CACHE_URL="redis://redis:6379/1",
        KLAVIYO_RATE_LIMIT_EVENTS="100/s,1000/m",
        PURGE_CRON="*/15 * * * *",
    )

    assert loaded["DEBUG"] is False
    assert loaded["LOG_LEVEL"] == "WARNING"
    assert loaded["PORT"] == 65535
    assert loaded["READS_KLAVIYO_CACHE_SECONDS"] == 0
    assert loaded["KLAVIYO_BULK_MIN_EVENTS"] == 1
    assert loaded["API_THROTTLE_RATE"] == ""
    assert loaded["SYNC_SWEEP_MAX_EVENTS"] == 1000
    # A mysql:// URL gets Django's MySQL backend with fewer round trips (core/mysql).
    assert loaded["DATABASES"]["default"]["ENGINE"] == "core.mysql"
    assert loaded["KLAVIYO_RATE_LIMIT_REDIS_URL"] == "redis://redis:6379/0"
    assert loaded["CACHES"]["default"]["OPTIONS"]["socket_timeout"] == 0.5
    # Django's Redis cache, keeping its clients (core/cache.py).
    assert loaded["CACHES"]["default"]["BACKEND"] == "core.cache.RedisCache"
    assert [limit.count for limit in loaded["KLAVIYO_RATE_LIMITS"]["events"]] == [100, 1000]
    assert loaded["PURGE_CRON"] == "*/15 * * * *"


def test_the_default_retries_come_within_seconds_and_back_off_over_about_3_hours(
    clean_environment, settings
):
    # The promise: every failure of Klaviyo retried when it makes sense, the first retry within
    # seconds, then backing off over about 3 hours (the sync's retry_delay on the defaults).
    loaded = settings_load(clean_environment)
    for name in ("KLAVIYO_RETRY_BASE_DELAY", "KLAVIYO_RETRY_MAX_DELAY", "KLAVIYO_RETRY_JITTER"):
        setattr(settings, name, loaded[name])
    retries = range(1, loaded["KLAVIYO_MAX_ATTEMPTS"])  # the delay after each failed attempt

    schedules = [[retry_delay(attempt=n) for n in retries] for _ in range(50)]

    assert max(schedule[0] for schedule in schedules) <= 10
    assert all(2 * 3600 < sum(schedule) < 4 * 3600 for schedule in schedules)
    settings.KLAVIYO_RETRY_JITTER = 0.0
    assert 2.5 * 3600 < sum(retry_delay(attempt=n) for n in retries) < 3.5 * 3600


def test_an_empty_number_or_flag_counts_as_unset(clean_environment):
    loaded = settings_load(clean_environment, BULK_MAX_EVENTS="", DEBUG=" ")

    assert loaded["BULK_MAX_EVENTS"] == 1000
    assert loaded["DEBUG"] is True


def test_every_knob_read_has_a_bad_value_pinned_here():
    pinned = {name for name, _, _ in BAD_VALUES} | {"SECRET_KEY"}

    assert knobs_read() - FREE_TEXT - pinned == set()


def test_every_knob_read_is_documented_in_env_example():
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.M))

    assert knobs_read() - documented == set()
