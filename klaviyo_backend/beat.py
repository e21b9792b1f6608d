"""The periodic tasks, declared in code and written to django-celery-beat's tables after every
`migrate`, so a fresh install has its schedule with no manual step.

A task's schedule is (re)written when the declared value changes (a new PURGE_CRON, say);
between such changes, edits made in admin's Periodic tasks (time, enabled) are kept.
"""

import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from klaviyo_backend.cron import cron_fields

DECLARED_MARKER = "declared schedule: "


@dataclass(frozen=True)
class PeriodicTaskSpec:
    name: str
    task: str
    cron: str | None = None  # five crontab fields, in UTC
    every_seconds: int | None = None
    # A run still waiting in the queue after this long is dropped: the next one is coming.
    expire_seconds: int | None = None

    @property
    def declared(self) -> str:
        schedule = self.cron if self.cron else f"every {self.every_seconds}s"
        return schedule + (f", expires after {self.expire_seconds}s" if self.expire_seconds else "")


def declared_schedule() -> list[PeriodicTaskSpec]:
    return [
        PeriodicTaskSpec(
            name="purge expired data",
            task="cleanup.tasks.purge_expired_data_task",
            cron=settings.PURGE_CRON,
        ),
        PeriodicTaskSpec(
            name="requeue stale pending events",
            task="klaviyo_sync.tasks.requeue_stale_pending_events",
            every_seconds=settings.SYNC_SWEEP_INTERVAL_SECONDS,
            # Sweeps that waited behind a backlog of sync tasks don't all run one after another.
            expire_seconds=settings.SYNC_SWEEP_INTERVAL_SECONDS,
        ),
        PeriodicTaskSpec(
            name="requeue stale profile changes",
            task="klaviyo_sync.tasks.requeue_stale_profile_changes",
            every_seconds=settings.SYNC_SWEEP_INTERVAL_SECONDS,
        ),
        PeriodicTaskSpec(
            name="requeue stale consent changes",
            task="klaviyo_sync.tasks.requeue_stale_consent_changes",
            every_seconds=settings.SYNC_SWEEP_INTERVAL_SECONDS,
            expire_seconds=settings.SYNC_SWEEP_INTERVAL_SECONDS,
        ),
        PeriodicTaskSpec(
            name="requeue stale erasures",
            task="klaviyo_sync.erasure_tasks.requeue_stale_erasures",
            every_seconds=settings.SYNC_SWEEP_INTERVAL_SECONDS,
        ),
        PeriodicTaskSpec(
            name="refresh the sync-health dashboard",
            task="console.tasks.refresh_sync_health",
            every_seconds=settings.DASHBOARD_REFRESH_SECONDS,
        ),
    ]


def beat_schedule_sync(*, specs: list[PeriodicTaskSpec] | None = None) -> None:
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    for spec in specs if specs is not None else declared_schedule():
        description = DECLARED_MARKER + spec.declared
        with transaction.atomic():
            existing = PeriodicTask.objects.select_for_update().filter(name=spec.name).first()
            if existing is not None and existing.description == description:
                continue  # up to date with the code; keep whatever admin changed
            fields: dict[str, Any] = {"task": spec.task, "description": description}
            if spec.cron:
                fields["crontab"], _ = CrontabSchedule.objects.get_or_create(
                    **cron_fields(spec.cron), timezone="UTC"
                )
                fields["interval"] = None
            else:
                fields["interval"], _ = IntervalSchedule.objects.get_or_create(
                    every=spec.every_seconds, period=IntervalSchedule.SECONDS
                )
                fields["crontab"] = None
            fields["kwargs"] = json.dumps({})
            fields["expire_seconds"] = spec.expire_seconds
            PeriodicTask.objects.update_or_create(name=spec.name, defaults=fields)


def on_post_migrate(**kwargs: Any) -> None:
    # Runs once per migrated app; act once, after django_celery_beat's tables exist.
    app_config = kwargs.get("app_config")
    if app_config is None or app_config.label != "django_celery_beat":
        return
    beat_schedule_sync()
