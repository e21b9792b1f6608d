"""Writes of core: the workers' heartbeats."""

from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from core.models import WorkerHeartbeat

# Rows of workers silent this long are dropped: hostnames of stopped workers don't pile up.
FORGOTTEN_AFTER = timedelta(days=7)


def worker_heartbeat_record(*, hostname: str, pid: int, started_at: datetime) -> None:
    """Upserts this worker's row with seen_at = now (one statement: workers never race)."""
    now = timezone.now()
    # MySQL's ON DUPLICATE KEY names no key (any unique one decides); SQLite's ON CONFLICT does.
    target = ["hostname"] if connection.features.supports_update_conflicts_with_target else None
    WorkerHeartbeat.objects.bulk_create(
        [WorkerHeartbeat(hostname=hostname, pid=pid, started_at=started_at, seen_at=now)],
        update_conflicts=True,
        unique_fields=target,
        update_fields=["pid", "started_at", "seen_at"],
    )
    WorkerHeartbeat.objects.filter(seen_at__lt=now - FORGOTTEN_AFTER).delete()
