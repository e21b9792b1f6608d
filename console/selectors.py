"""The dashboard's figures, read from the events, profiles and purge tables.

`sync_health_figures` is the expensive part (counts over millions of rows, a day of delivery
times): it runs off the request path and its result is stored as a snapshot (services.py).
`klaviyo_state` and `purge_state` are cheap and read live on every page.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count
from django.db.models.functions import TruncHour

from cleanup.selectors import purge_run_last, purge_schedule
from events.failures import failure_groups
from events.models import ConsentChange, ConsentStatus, Event, Profile, SyncStatus
from events.selectors import event_counts_by_sync_status, event_pending_oldest_created_at
from klaviyo_client.ratelimit import rate_limiter

HOURS = 24
# The last error worth showing is at most this old (retries end within about 3 hours).
PROBLEM_LOOKBACK = timedelta(hours=48)


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def percentile(sorted_values: list[float], share: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[rank - 1]


def hour_slots(now: datetime) -> list[datetime]:
    """The starts of the last HOURS hours, oldest first, the current (partial) hour last."""
    current = now.replace(minute=0, second=0, microsecond=0)
    return [current - timedelta(hours=HOURS - 1 - index) for index in range(HOURS)]


def received_per_hour(*, slots: list[datetime]) -> list[int]:
    # A range of the created_at index, grouped by hour in the database.
    rows = (
        Event.objects.filter(created_at__gte=slots[0])
        .annotate(hour=TruncHour("created_at"))
        .order_by()
        .values("hour")
        .annotate(n=Count("id"))
    )
    counts = {row["hour"]: row["n"] for row in rows}
    return [counts.get(slot, 0) for slot in slots]


def deliveries(*, now: datetime, slots: list[datetime]) -> dict[str, Any]:
    """Events sent to Klaviyo per hour of the last day, and the delay from received to sent
    (p50 and p95 per hour and over the day), from the (synced_at, created_at) index alone:
    only a sent event has a synced_at."""
    rows = (
        Event.objects.filter(synced_at__gte=slots[0])
        .order_by()
        .values_list("created_at", "synced_at")
    )
    delays: dict[datetime, list[float]] = defaultdict(list)
    every: list[float] = []
    last_sent: datetime | None = None
    for created_at, synced_at in rows.iterator(chunk_size=5000):
        delay = max(0.0, (synced_at - created_at).total_seconds())
        delays[synced_at.replace(minute=0, second=0, microsecond=0)].append(delay)
        every.append(delay)
        if last_sent is None or synced_at > last_sent:
            last_sent = synced_at
    p50, p95 = [], []
    for slot in slots:
        hour = sorted(delays.get(slot, []))
        p50.append(percentile(hour, 0.5))
        p95.append(percentile(hour, 0.95))
    every.sort()
    return {
        "delivered": [len(delays.get(slot, [])) for slot in slots],
        "delay_p50": p50,
        "delay_p95": p95,
        "delay_p50_day": percentile(every, 0.5),
        "delay_p95_day": percentile(every, 0.95),
        "last_sent_at": iso(last_sent),
    }


def last_klaviyo_problem(*, now: datetime) -> dict[str, Any] | None:
    """The most recent error Klaviyo (or the way to it) gave, on a failed or retrying event."""
    row = (
        Event.objects.filter(
            created_at__gte=now - PROBLEM_LOOKBACK,
            sync_status__in=(SyncStatus.PENDING, SyncStatus.FAILED),
            last_attempt_at__isnull=False,
        )
        .exclude(last_error="")
        .order_by("-last_attempt_at")
        .values("id", "last_error", "last_attempt_at", "sync_status")
        .first()
    )
    if row is None:
        return None
    return {
        "event_id": str(row["id"]),
        "error": row["last_error"],
        "at": iso(row["last_attempt_at"]),
        "status": row["sync_status"],
    }


def profile_counts_by_sync_status() -> dict[str, int]:
    counts = dict.fromkeys(SyncStatus.values, 0)
    counts.update(dict(Profile.objects.order_by().values_list("sync_status").annotate(Count("id"))))
    return counts


def consent_counts_by_status() -> dict[str, int]:
    """Consent changes by status (pending, sent, failed): one pass over the status index."""
    counts = dict.fromkeys(ConsentStatus.values, 0)
    rows = ConsentChange.objects.order_by().values_list("status").annotate(Count("id"))
    counts.update(dict(rows))
    return counts


def sync_health_figures(*, now: datetime) -> dict[str, Any]:
    """Everything the dashboard shows that costs more than an index lookup, as JSON."""
    slots = hour_slots(now)
    events = event_counts_by_sync_status()
    oldest_pending = event_pending_oldest_created_at()
    retrying = (
        Event.objects.filter(sync_status=SyncStatus.PENDING, attempts__gt=0)
        .exclude(last_error="")
        .count()
    )
    return {
        "hours": [iso(slot) for slot in slots],
        "events": events,
        "profiles": profile_counts_by_sync_status(),
        "consent_changes": consent_counts_by_status(),
        "oldest_pending_at": iso(oldest_pending),
        "retrying": retrying,
        "received": received_per_hour(slots=slots),
        **deliveries(now=now, slots=slots),
        "failures": failure_groups(),
        "last_problem": last_klaviyo_problem(now=now),
    }


def klaviyo_state() -> dict[str, Any]:
    """The Klaviyo connection as configured, and each rate-limit bucket's use right now."""
    limiter = rate_limiter()
    buckets = []
    if limiter is not None:
        for bucket in sorted(settings.KLAVIYO_RATE_LIMITS):
            buckets.append(limiter.usage(bucket))
    return {
        "configured": bool(settings.KLAVIYO_API_KEY),
        "base_url": settings.KLAVIYO_BASE_URL,
        "revision": settings.KLAVIYO_REVISION,
        "rate_limiting": limiter is not None,
        "limits_in_redis": bool(getattr(settings, "KLAVIYO_RATE_LIMIT_REDIS_URL", "")),
        "buckets": buckets,
    }


def purge_state(*, now: datetime) -> dict[str, Any]:
    return {
        "last_run": purge_run_last(),
        "schedule": purge_schedule(now=now),
        "retention_days": settings.DATA_RETENTION_DAYS,
    }
