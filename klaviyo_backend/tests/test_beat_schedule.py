"""The purge's periodic task, written to django-celery-beat's tables by `migrate`
(klaviyo_backend/beat.py)."""

import pytest
from django.core.management import call_command
from django_celery_beat.models import CrontabSchedule, PeriodicTask

pytestmark = pytest.mark.django_db

TASK = "cleanup.tasks.purge_expired_data_task"


def purge_task() -> PeriodicTask:
    return PeriodicTask.objects.select_related("crontab").get(task=TASK)


def cron_of(task: PeriodicTask) -> tuple[str, ...]:
    c = task.crontab
    return (c.minute, c.hour, c.day_of_month, c.month_of_year, c.day_of_week, str(c.timezone))


def test_after_migrate_the_purge_runs_daily_at_two_utc():
    task = purge_task()

    assert task.name == "purge expired data"
    assert task.enabled is True
    assert task.interval is None
    assert cron_of(task) == ("0", "2", "*", "*", "*", "UTC")


def test_a_new_purge_cron_rewrites_the_schedule_at_the_next_migrate(settings):
    settings.PURGE_CRON = "30 3 * * 1"

    call_command("migrate", verbosity=0)

    assert cron_of(purge_task()) == ("30", "3", "*", "*", "1", "UTC")
    assert PeriodicTask.objects.filter(task=TASK).count() == 1


def test_an_admin_edit_of_the_schedule_is_kept_while_purge_cron_is_unchanged():
    task = purge_task()
    task.crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="15", hour="4", day_of_month="*", month_of_year="*", day_of_week="*", timezone="UTC"
    )
    task.enabled = False
    task.save()

    call_command("migrate", verbosity=0)

    task = purge_task()
    assert cron_of(task) == ("15", "4", "*", "*", "*", "UTC")
    assert task.enabled is False
