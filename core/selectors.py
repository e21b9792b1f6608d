"""Reads of core: when a worker was last seen."""

from datetime import datetime

from django.db.models import Max

from core.models import WorkerHeartbeat


def worker_last_seen() -> datetime | None:
    """The latest heartbeat of any worker; None when none was ever recorded."""
    return WorkerHeartbeat.objects.aggregate(latest=Max("seen_at"))["latest"]
