"""Checks of what the service stands on, for /health: the database and the Redis broker."""

import logging

import redis
from django.conf import settings
from django.db import DatabaseError, connection

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
    """'ok' or 'down' for the Redis broker; None when there is none (tasks run in process)."""
    url = settings.CELERY_BROKER_URL
    if not url:
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
