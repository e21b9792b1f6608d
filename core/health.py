"""Checks of what the service stands on, for /health: the database, the broker (Redis or the
embedded broker's folder) and the workers' heartbeats."""

import logging

import redis
from celery import current_app
from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from core.embedded_broker import SCHEME as EMBEDDED_SCHEME
from core.embedded_broker import folder_status, folders_prepare
from core.selectors import worker_last_seen

logger = logging.getLogger(__name__)
# A health check must answer fast even when Redis is a black hole.
BROKER_TIMEOUT_SECONDS = 2.0


def database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        logger.warning("Health check: database unreachable: %s", error)
        return "down"
    return "ok"


def broker_status() -> str | None:
    """'ok' or 'down' for the broker (Redis, or the embedded broker's folder); None when none
    is configured."""
    url = settings.CELERY_BROKER_URL
    if url.startswith(f"{EMBEDDED_SCHEME}://"):
        try:
            folders_prepare(settings.EMBEDDED_BROKER_DIR)
        except OSError as error:
            logger.warning("Health check: embedded broker folder unusable: %s", error)
            return "down"
        return folder_status(settings.EMBEDDED_BROKER_DIR)
    if not url.startswith(("redis://", "rediss://")):
        return None
    client = redis.Redis.from_url(
        url, socket_connect_timeout=BROKER_TIMEOUT_SECONDS, socket_timeout=BROKER_TIMEOUT_SECONDS
    )
    try:
        client.ping()
    except (redis.RedisError, OSError) as error:
        # The URL may hold a password: only the exception's class is logged.
        logger.warning("Health check: broker unreachable (%s)", type(error).__name__)
        return "down"
    finally:
        client.close()
    return "ok"


def worker_silence() -> float | None:
    """Seconds since a worker last recorded its heartbeat; None when tasks run in process
    (the test suite), infinity when none ever did. Raises DatabaseError."""
    if current_app.conf.task_always_eager:
        return None
    seen = worker_last_seen()
    return round((timezone.now() - seen).total_seconds(), 3) if seen else float("inf")
