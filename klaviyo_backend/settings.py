"""Settings, read from the environment (and an optional `.env` file) through one `env` object.

Every knob is listed with its default and meaning in `.env.example`. A fresh checkout runs with no
configuration at all: SQLite in the project folder and Celery's queue in a folder beside it.
Each value is checked as read; the last line stops a start with a bad one (klaviyo_backend/env.py).
"""

from datetime import timedelta
from pathlib import Path

from core import embedded_broker
from core.logging import logging_config
from klaviyo_backend import django_static, spectacular
from klaviyo_backend.content_security import content_security_policy
from klaviyo_backend.cron import cron_checked
from klaviyo_backend.env import Env
from klaviyo_client.limits import MAX_BULK_BYTES, MAX_BULK_EVENTS, RATE_LIMITS
from klaviyo_client.ratelimit import parse_limits
from klaviyo_sync.lease import send_lease_seconds

BASE_DIR = Path(__file__).resolve().parent.parent

env = Env(dotenv=BASE_DIR / ".env")

# --- Django -------------------------------------------------------------------------------------

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default="")
env.require(bool(SECRET_KEY) or DEBUG, "SECRET_KEY", "must be set when DEBUG is off")
SECRET_KEY = SECRET_KEY or "insecure-development-key-do-not-use-in-production"
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
env.require(bool(ALLOWED_HOSTS), "ALLOWED_HOSTS", "must name at least one host")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# With no scheme (Django's check 4_0.E001) every admin form post would fail.
env.require(
    all(origin.startswith(("http://", "https://")) for origin in CSRF_TRUSTED_ORIGINS),
    "CSRF_TRUSTED_ORIGINS",
    "each origin must start with http:// or https://",
)
CSRF_FAILURE_VIEW = "core.errors.csrf_failure"
PORT = env.int("PORT", default=3000, min=1, max=65535)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "axes",
    "core",
    "events",
    "klaviyo_sync",
    "cleanup",
    "console",
    "klaviyo_backend.apps.ProjectConfig",
]

MIDDLEWARE = [
    # First: request id and the one log line per request, even for answers given further down.
    "core.middleware.RequestLogMiddleware",
    "core.middleware.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.middleware.StaffSessionMiddleware",  # these three: STAFF_PATHS only
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "core.middleware.StaffAuthenticationMiddleware",
    "core.middleware.StaffMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.middleware.ContentSecurityPolicyMiddleware",  # klaviyo_backend/content_security.py
    # Last, as django-axes asks: answers a locked-out admin login with 429.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "klaviyo_backend.urls"
WSGI_APPLICATION = "klaviyo_backend.wsgi.application"
# Paths work with or without a trailing slash through the routers, not through redirects.
APPEND_SLASH = False

TEMPLATES = django_static.TEMPLATES
STAFF_PATHS = django_static.STAFF_PATHS

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
_db = DATABASES["default"]
_db.setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60, min=0))
# A dropped connection is detected before the request uses it, not half-way through.
_db["CONN_HEALTH_CHECKS"] = True
if _db["ENGINE"] == "django.db.backends.mysql":
    _db.setdefault("OPTIONS", {})
    _db["OPTIONS"].setdefault("charset", "utf8mb4")
    # READ COMMITTED: upserts on the profile table don't take gap locks that deadlock each other.
    _db["OPTIONS"].setdefault("isolation_level", "read committed")
    _db["OPTIONS"].setdefault(
        "init_command", "SET sql_mode='STRICT_TRANS_TABLES', innodb_lock_wait_timeout=20"
    )
    _db.setdefault("TEST", {}).setdefault("CHARSET", "utf8mb4")
    _db["TEST"].setdefault("COLLATION", "utf8mb4_unicode_ci")
    # Django's backend with fewer round trips per transaction and health check (core/mysql).
    _db["ENGINE"] = "core.mysql"
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so that end-to-end tests' worker processes share the test database;
    # named after the configured one (db.sqlite3 -> test_db.sqlite3), so two checkouts or two
    # DATABASE_URLs never share a test database.
    _sqlite_name = Path(_db["NAME"])
    if _db["NAME"] != ":memory:":
        _db.setdefault("TEST", {}).setdefault(
            "NAME", str(_sqlite_name.with_name(f"test_{_sqlite_name.name}"))
        )
    # WAL lets readers go on while a writer holds the lock; the timeout makes writers queue.
    _db.setdefault("OPTIONS", {})
    _db["OPTIONS"].setdefault("timeout", 20)
    _db["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
    _db["OPTIONS"].setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# mysql.W003 warns that a unique varchar over 255 characters may not be indexable: true of
# utf8mb4 under the old 767-byte index limit (COMPACT rows), not of MariaDB >= 10.2 / MySQL
# >= 5.7, whose DYNAMIC rows allow 3,072 bytes. Its one occurrence, Profile.identity (300
# characters = 1,200 bytes), gets its full unique index there, and on a server that couldn't
# build it, migrate fails loudly. events/tests/test_exact_keys.py pins that the index is whole.
SILENCED_SYSTEM_CHECKS = ["mysql.W003"]

AUTH_PASSWORD_VALIDATORS = django_static.AUTH_PASSWORD_VALIDATORS

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve static files from the app folders when collectstatic has not run (dev, tests).
WHITENOISE_USE_FINDERS = True

# Request bodies larger than this answer 413 before anything parses them.
MAX_REQUEST_BYTES = env.int("MAX_REQUEST_BYTES", default=10 * 1024 * 1024, min=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BYTES
# Seconds a client has to send a request's whole body; a slower one gets 408 and is
# disconnected, so that it holds a server thread no longer (core.request_body).
REQUEST_BODY_TIMEOUT_SECONDS = env.float(
    "REQUEST_BODY_TIMEOUT_SECONDS", default=15.0, above=0, max=600
)
# gunicorn workers of `manage.py serve`, threads per worker (a slow client holds one thread).
WEB_CONCURRENCY = env.int("WEB_CONCURRENCY", default=2, min=1, max=64)
WEB_THREADS = env.int("WEB_THREADS", default=64, min=1, max=1000)

# --- Security (production) ----------------------------------------------------------------------

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000, min=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
# Health checks and metric scrapes come over plain HTTP from inside the network.
SECURE_REDIRECT_EXEMPT = [r"^health/?$", r"^metrics/?$"]

# --- Logging ------------------------------------------------------------------------------------

LOG_LEVEL = env.str(
    "LOG_LEVEL", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
)
# json: one JSON object per line (for log collectors); plain: human-readable lines.
LOG_FORMAT = env.str("LOG_FORMAT", default="json", choices=("json", "plain"))
LOGGING = logging_config(level=LOG_LEVEL, log_format=LOG_FORMAT)
# /metrics (Prometheus) is open when empty; else it needs `Authorization: Bearer <token>`.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Celery workers and beat log through the handler above (JSON, redacted), not their own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- DRF ----------------------------------------------------------------------------------------

# Keys accepted in X-API-Key besides the hashed ones created in admin (comma-separated).
API_KEYS = [key for key in env.list("API_KEYS", default=[]) if key]
# The dev key of .env.example works out of the box in DEBUG only, so the README's examples run
# on a fresh checkout; production (DEBUG off) accepts only configured or admin-created keys.
DEV_API_KEY = "dev-api-key-change-me"
if DEBUG and "API_KEYS" not in env:
    API_KEYS = [DEV_API_KEY]
API_KEY_CUSTOM_HEADER = "HTTP_X_API_KEY"

REST_FRAMEWORK = django_static.REST_FRAMEWORK

# Most events one POST /events/bulk, and profiles one POST /profiles/bulk, may carry.
BULK_MAX_EVENTS = env.int("BULK_MAX_EVENTS", default=1000, min=1, max=100_000)
BULK_MAX_PROFILES = env.int("BULK_MAX_PROFILES", default=10_000, min=1, max=100_000)

# Requests each API key may make per period (N/s, N/min, N/hour, N/day); empty: no limit.
API_THROTTLE_RATE = env.str(
    "API_THROTTLE_RATE", "12000/min", pattern=r"[1-9]\d*/(s|sec|second|m|min|minute|h|hour|d|day)"
)
# Wrong API keys one client address may send per period (N/s, N/min, ...); over it, its requests
# with a key answer 429 until the period ends (core.key_guessing). Empty: no limit.
API_KEY_FAILURE_RATE = env.str(
    "API_KEY_FAILURE_RATE", "10/min", pattern=r"[1-9]\d*/(s|sec|second|m|min|minute|h|hour|d|day)"
)
# Reverse proxies in front of the service that append to X-Forwarded-For (0: clients connect
# directly). Client addresses, for the wrong-key guard and admin lockouts, come from there.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0, min=0, max=10)
# Admin login (django-axes): wrong passwords of a username at an address before a lockout (429).
ADMIN_LOGIN_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=5, min=1, max=1000)
ADMIN_LOCKOUT_MINUTES = env.int("ADMIN_LOCKOUT_MINUTES", default=15, min=1, max=7 * 24 * 60)
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = ADMIN_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=ADMIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "core.client_address.client_address"
# Where throttle counters live: Redis (redis://host:6379/1) shares them across workers and
# hosts; empty: each process's memory (the limit then applies per gunicorn worker).
CACHES = {"default": env.cache("CACHE_URL")}
# Django's backends, without memcached's key check (core/cache.py).
if CACHES["default"]["BACKEND"].endswith("LocMemCache"):
    CACHES["default"]["BACKEND"] = "core.cache.LocMemCache"
if CACHES["default"]["BACKEND"].endswith("RedisCache"):
    # Django's, keeping one redis client per pool rather than building one per operation.
    CACHES["default"]["BACKEND"] = "core.cache.RedisCache"
    # Redis down must cost a request little time: throttling then lets requests through.
    CACHES["default"].setdefault("OPTIONS", {}).update(
        {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
    )
# Seconds the read endpoints (/events/metrics, count, ...) give Klaviyo before answering locally.
READS_KLAVIYO_BUDGET_SECONDS = env.float(
    "READS_KLAVIYO_BUDGET_SECONDS", default=3.0, above=0, max=60
)
# Seconds a Klaviyo day count is reused (metric aggregates allow 3 calls/s, 60/min); 0: never.
READS_KLAVIYO_CACHE_SECONDS = env.int("READS_KLAVIYO_CACHE_SECONDS", default=60, min=0)

# drf-spectacular's static settings; the Content-Security-Policy allows what the docs load.
SPECTACULAR_SETTINGS = spectacular.SPECTACULAR_SETTINGS
CONTENT_SECURITY_POLICY = content_security_policy(SPECTACULAR_SETTINGS)

# --- Celery -------------------------------------------------------------------------------------

# Redis only (health pings it, the rate limiter shares it). Empty: the embedded broker beside the
# database (core/embedded_broker.py); serve runs a worker and beat too. Eager only in tests.
CELERY_BROKER_URL = env.url("CELERY_BROKER_URL", default="", schemes=("redis", "rediss"))
EMBEDDED_BROKER, _CONFIGURED_BROKER_URL = not CELERY_BROKER_URL, CELERY_BROKER_URL
EMBEDDED_BROKER_DIR = env.parsed(
    "EMBEDDED_BROKER_DIR", "", embedded_broker.dir_parser(database=_db, base_dir=BASE_DIR)
)
EMBEDDED_BROKER_POLL_SECONDS = env.float("EMBEDDED_BROKER_POLL_SECONDS", 0.2, min=0.01, max=10)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Redis re-delivers an unacknowledged task after this; every retry delay stays well below it.
_REDIS_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600, min=1),
    # A Redis that does not answer (host down, packets dropped) must cost a request about a
    # second, not the system's two-minute connect timeout: the event is stored all the same,
    # and the sweeper queues it once Redis is back.
    "socket_connect_timeout": 1.0,
    # The same bound on an open connection that goes silent (no reply to a command): without
    # it a publish waits for TCP to give up, a quarter of an hour. Above the worker's 1 s
    # BRPOP poll, so an idle worker never times out.
    "socket_timeout": 5.0,
}
CELERY_BROKER_TRANSPORT_OPTIONS = _REDIS_TRANSPORT_OPTIONS
if EMBEDDED_BROKER:  # Redis's options kept: a producer pointed at Redis later (the test kit)
    CELERY_BROKER_URL, CELERY_WORKER_ENABLE_REMOTE_CONTROL = embedded_broker.URL, False
    CELERY_BROKER_TRANSPORT_OPTIONS = _REDIS_TRANSPORT_OPTIONS | embedded_broker.transport_options(
        EMBEDDED_BROKER_DIR, polling_interval=EMBEDDED_BROKER_POLL_SECONDS
    )
# Queueing tries once more at once (a pooled connection Redis dropped), not 4 times over 0.6 s.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The periodic tasks themselves are declared in klaviyo_backend/beat.py.
DJANGO_CELERY_BEAT_TZ_AWARE = True

# --- Health (/health: degraded when no worker beat for so long, or an event pends too long) --
WORKER_HEARTBEAT_SECONDS = env.float("WORKER_HEARTBEAT_SECONDS", default=15.0, min=0.1, max=3600)
HEALTH_WORKER_SILENT_SECONDS = env.float("HEALTH_WORKER_SILENT_SECONDS", default=60.0, min=0.2)
_silent_ok = HEALTH_WORKER_SILENT_SECONDS >= 2 * WORKER_HEARTBEAT_SECONDS
env.require(_silent_ok, "HEALTH_WORKER_SILENT_SECONDS", "must be at least twice the heartbeat")
HEALTH_PENDING_MAX_AGE_SECONDS = env.float("HEALTH_PENDING_MAX_AGE_SECONDS", default=900.0, min=1)

# --- Klaviyo ------------------------------------------------------------------------------------

# Empty: nothing is sent; events are marked `skipped`.
KLAVIYO_API_KEY = env.str("KLAVIYO_API_KEY", default="")
KLAVIYO_BASE_URL = env.url(
    "KLAVIYO_BASE_URL", "https://a.klaviyo.com/api", schemes=("https", "http"), required=True
).rstrip("/")
# Klaviyo's revisions are dates, for a beta with a suffix: 2026-07-15, 2026-07-15.pre.
KLAVIYO_REVISION = env.str(
    "KLAVIYO_REVISION", "2026-07-15", pattern=r"\d{4}-\d{2}-\d{2}(\.pre)?", required=True
)
KLAVIYO_CONNECT_TIMEOUT = env.float("KLAVIYO_CONNECT_TIMEOUT", default=3.05, above=0, max=300)
KLAVIYO_READ_TIMEOUT = env.float("KLAVIYO_READ_TIMEOUT", default=15.0, above=0, max=600)
# Seconds between sweeps (beat), each queueing the events that are due (klaviyo_sync/services).
SYNC_SWEEP_INTERVAL_SECONDS = env.int("SYNC_SWEEP_INTERVAL_SECONDS", default=10, min=1, max=3600)
# Milliseconds a process gathers new events into one task (0: queued by each commit itself).
# 200: a Celery publish costs about 2 ms of CPU; with 50, under load, its share of a single
# event's CPU was 6% (py-spy), with 200 under 2%. A quiet process's event waits 0.15 s more.
SYNC_QUEUE_WINDOW_MS = env.int("SYNC_QUEUE_WINDOW_MS", default=200, min=0, max=1000)
# Seconds from a task's queueing to a sweep re-queueing its events if unclaimed (lost task).
SYNC_STALE_PENDING_SECONDS = env.int("SYNC_STALE_PENDING_SECONDS", default=600, min=60)
# Most events one sweep re-queues (in tasks of KLAVIYO_BULK_BATCH_SIZE); the rest wait a sweep.
SYNC_SWEEP_MAX_EVENTS = env.int("SYNC_SWEEP_MAX_EVENTS", default=200_000, min=1)
# Attempts per event before it is marked failed; retries back off exponentially with jitter
# from KLAVIYO_RETRY_BASE_DELAY up to KLAVIYO_RETRY_MAX_DELAY seconds, and never sooner than
# Klaviyo's Retry-After. Defaults: the first retry within seconds (5 s), then 10, 20, ... up to
# 40 minutes: 13 attempts over about 3 hours (2.7 h without jitter).
KLAVIYO_MAX_ATTEMPTS = env.int("KLAVIYO_MAX_ATTEMPTS", default=13, min=1, max=100)
KLAVIYO_RETRY_BASE_DELAY = env.float("KLAVIYO_RETRY_BASE_DELAY", default=5.0, min=0)
KLAVIYO_RETRY_MAX_DELAY = env.float("KLAVIYO_RETRY_MAX_DELAY", default=2400.0, min=0)
env.require(
    KLAVIYO_RETRY_MAX_DELAY >= KLAVIYO_RETRY_BASE_DELAY,
    "KLAVIYO_RETRY_MAX_DELAY",
    "must be at least KLAVIYO_RETRY_BASE_DELAY",
)
# Fraction of each delay drawn at random (+/-), so failed batches don't come back together.
KLAVIYO_RETRY_JITTER = env.float("KLAVIYO_RETRY_JITTER", default=0.2, min=0, max=0.99)
# A countdown task longer than the visibility timeout would be delivered twice by Redis.
env.require(
    0.9 * _REDIS_TRANSPORT_OPTIONS["visibility_timeout"]
    > KLAVIYO_RETRY_MAX_DELAY * (1 + KLAVIYO_RETRY_JITTER),
    "KLAVIYO_RETRY_MAX_DELAY",
    "(with KLAVIYO_RETRY_JITTER) must stay below 90% of CELERY_VISIBILITY_TIMEOUT",
)
# Events per bulk request and its body limit in bytes, at most Klaviyo's (1,000 and 5 MB).
KLAVIYO_BULK_BATCH_SIZE = env.int(
    "KLAVIYO_BULK_BATCH_SIZE", default=MAX_BULK_EVENTS, min=1, max=MAX_BULK_EVENTS
)
KLAVIYO_BULK_MAX_BYTES = env.int(
    "KLAVIYO_BULK_MAX_BYTES", default=MAX_BULK_BYTES, min=10_000, max=MAX_BULK_BYTES
)
# Batches smaller than this go one POST /api/events per event (its own quota, 3,500/min);
# larger ones as one bulk job (150/min): about where both cost the same share of their quota.
KLAVIYO_BULK_MIN_EVENTS = env.int("KLAVIYO_BULK_MIN_EVENTS", default=24, min=1)
# Client-side rate limiting, shared by all workers through Redis (empty URL: per process).
KLAVIYO_RATE_LIMIT_ENABLED = env.bool("KLAVIYO_RATE_LIMIT_ENABLED", default=True)
KLAVIYO_RATE_LIMIT_REDIS_URL = env.url(
    "KLAVIYO_RATE_LIMIT_REDIS_URL", default=_CONFIGURED_BROKER_URL, schemes=("redis", "rediss")
)
# Limits per endpoint, "<n>/s,<n>/m": Klaviyo's published ones (lower: room for other apps).
KLAVIYO_RATE_LIMITS = {
    "events": env.parsed("KLAVIYO_RATE_LIMIT_EVENTS", RATE_LIMITS["events"], parse_limits),
    "bulk_events": env.parsed(
        "KLAVIYO_RATE_LIMIT_BULK_EVENTS", RATE_LIMITS["bulk_events"], parse_limits
    ),
    "profile_import": env.parsed(
        "KLAVIYO_RATE_LIMIT_PROFILE_IMPORT", RATE_LIMITS["profile_import"], parse_limits
    ),
}
# Seconds added to each limiter window: requests reach Klaviyo with some jitter.
KLAVIYO_RATE_LIMIT_MARGIN = env.float("KLAVIYO_RATE_LIMIT_MARGIN", default=0.1, min=0, max=10)
# Seconds a worker waits for the limiter before it re-queues the batch instead.
KLAVIYO_RATE_LIMIT_MAX_WAIT = env.float("KLAVIYO_RATE_LIMIT_MAX_WAIT", default=20.0, min=0)
# Derived (klaviyo_sync/lease.py), no longer a knob: one set is refused, not silently ignored.
env.require("KLAVIYO_SEND_LEASE_SECONDS" not in env, "KLAVIYO_SEND_LEASE_SECONDS", "is derived")
KLAVIYO_SEND_LEASE_SECONDS = send_lease_seconds(
    KLAVIYO_RATE_LIMIT_MAX_WAIT, KLAVIYO_CONNECT_TIMEOUT, KLAVIYO_READ_TIMEOUT
)

# --- Staff console ------------------------------------------------------------------------------

# Seconds between refreshes of the sync-health dashboard's figures (beat); the page computes
# them itself when the newest are over twice as old (no beat running).
DASHBOARD_REFRESH_SECONDS = env.int("DASHBOARD_REFRESH_SECONDS", default=60, min=5)

# --- Retention ----------------------------------------------------------------------------------

DATA_RETENTION_DAYS = env.int("DATA_RETENTION_DAYS", default=7, min=1, max=36_500)
# When the daily purge runs: five crontab fields, UTC.
PURGE_CRON = env.parsed("PURGE_CRON", "0 2 * * *", cron_checked)
# Rows per DELETE statement of the purge, each statement its own short transaction.
PURGE_BATCH_SIZE = env.int("PURGE_BATCH_SIZE", default=5000, min=1, max=100_000)
# A running purge that made no progress for this long is taken for crashed: its lock is freed.
PURGE_LOCK_STALE_SECONDS = env.int("PURGE_LOCK_STALE_SECONDS", default=600, min=1)

# Last: stop here, naming every bad value above, before anything uses them.
env.check()
