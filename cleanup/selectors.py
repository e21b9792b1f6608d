"""Reads of the cleanup app: what the purge would delete, the stats, the runs and the schedule.

Every count is an index range or an anti-join on the profile foreign key's index, so the stats
stay cheap on tables of millions of rows.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, Max, Min, OuterRef
from django.utils import timezone

from cleanup.models import PurgeOutcome, PurgeRun
from events.models import Event, Profile, SyncStatus
from events.selectors import event_counts_by_sync_status

PURGE_TASK = "cleanup.tasks.purge_expired_data_task"
UNSYNCED_STATUSES = [status for status in SyncStatus.values if status != SyncStatus.SENT]


def purge_cutoff(*, days: int, now: datetime | None = None) -> datetime:
    """Events created before this instant are expired: `days` before now, to the second."""
    return ((now or timezone.now()) - timedelta(days=days)).replace(microsecond=0)


def events_expired_count(*, cutoff: datetime) -> int:
    return Event.objects.filter(created_at__lt=cutoff).count()


def events_expired_unsynced_count(*, cutoff: datetime) -> int:
    # One range per status on the (sync_status, created_at) index.
    return Event.objects.filter(sync_status__in=UNSYNCED_STATUSES, created_at__lt=cutoff).count()


def profiles_expired_count(*, cutoff: datetime) -> int:
    """Profiles a purge with this cutoff deletes: untouched since the cutoff and left with no
    event created since (a profile saved recently, even without events, is kept)."""
    recent_events = Event.objects.filter(profile_id=OuterRef("pk"), created_at__gte=cutoff)
    return Profile.objects.filter(updated_at__lt=cutoff).filter(~Exists(recent_events)).count()


def profiles_orphaned_count() -> int:
    """Profiles with no events at all."""
    events = Event.objects.filter(profile_id=OuterRef("pk"))
    return Profile.objects.filter(~Exists(events)).count()


@dataclass(frozen=True)
class PurgeSchedule:
    cron: str | None  # five crontab fields of the first enabled periodic task, else of any
    enabled: bool
    next_run_at: datetime | None  # None when no enabled periodic task runs the purge


def purge_schedule(*, now: datetime | None = None) -> PurgeSchedule:
    """The purge's schedule as celery-beat holds it (admin may have changed PURGE_CRON's)."""
    from django_celery_beat.models import PeriodicTask

    now = now or timezone.now()
    tasks = list(
        PeriodicTask.objects.filter(task=PURGE_TASK, crontab__isnull=False)
        .select_related("crontab")
        .order_by("-enabled", "id")
    )
    if not tasks:
        return PurgeSchedule(cron=None, enabled=False, next_run_at=None)
    next_runs = []
    for task in tasks:
        if task.enabled:
            # celery-beat's own arithmetic: the first run after `now`.
            start, delta, _ = task.crontab.schedule.remaining_delta(now)
            next_runs.append(start + delta)
    fields = tasks[0].crontab
    cron = " ".join(
        (fields.minute, fields.hour, fields.day_of_month, fields.month_of_year, fields.day_of_week)
    )
    return PurgeSchedule(
        cron=cron, enabled=bool(next_runs), next_run_at=min(next_runs) if next_runs else None
    )


def purge_run_last() -> PurgeRun | None:
    return PurgeRun.objects.exclude(outcome=PurgeOutcome.QUEUED).first()


def purge_run_get(*, run_id: int) -> PurgeRun | None:
    return PurgeRun.objects.filter(pk=run_id).first()


def purge_run_running() -> PurgeRun | None:
    return PurgeRun.objects.filter(running_lock__isnull=False).first()


def purge_runs_list(*, limit: int) -> list[PurgeRun]:
    return list(PurgeRun.objects.all()[:limit])


@dataclass(frozen=True)
class CleanupStats:
    total_events: int
    events_to_delete: int
    unsynced_events_to_delete: int
    total_profiles: int
    orphaned_profiles: int
    profiles_to_delete: int
    retention_days: int
    cutoff: datetime
    oldest_event_received_at: datetime | None
    newest_event_received_at: datetime | None
    events_by_sync_status: dict[str, int]
    last_run: PurgeRun | None
    schedule: PurgeSchedule


def cleanup_stats(*, now: datetime | None = None) -> CleanupStats:
    days = settings.DATA_RETENTION_DAYS
    cutoff = purge_cutoff(days=days, now=now)
    received = Event.objects.aggregate(oldest=Min("created_at"), newest=Max("created_at"))
    by_status = event_counts_by_sync_status()
    return CleanupStats(
        total_events=sum(by_status.values()),
        events_to_delete=events_expired_count(cutoff=cutoff),
        unsynced_events_to_delete=events_expired_unsynced_count(cutoff=cutoff),
        total_profiles=Profile.objects.count(),
        orphaned_profiles=profiles_orphaned_count(),
        profiles_to_delete=profiles_expired_count(cutoff=cutoff),
        retention_days=days,
        cutoff=cutoff,
        oldest_event_received_at=received["oldest"],
        newest_event_received_at=received["newest"],
        events_by_sync_status=by_status,
        last_run=purge_run_last(),
        schedule=purge_schedule(now=now),
    )
