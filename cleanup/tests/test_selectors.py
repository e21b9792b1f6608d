"""What the stats read: the purge's next scheduled run, and the counts' definitions."""

from datetime import UTC, datetime

import pytest
from django_celery_beat.models import PeriodicTask

from cleanup.selectors import (
    profiles_expired_count,
    profiles_orphaned_count,
    purge_cutoff,
    purge_schedule,
)
from cleanup.tests.conftest import CUTOFF, LONG_AGO, NOW, event_at, profile_at

pytestmark = pytest.mark.django_db


def test_the_cutoff_is_the_retention_before_now_to_the_second():
    assert purge_cutoff(days=7, now=NOW) == CUTOFF


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2025, 9, 15, 10, 0, tzinfo=UTC), datetime(2025, 9, 16, 2, 0, tzinfo=UTC)),
        (datetime(2025, 9, 15, 1, 59, tzinfo=UTC), datetime(2025, 9, 15, 2, 0, tzinfo=UTC)),
        (datetime(2025, 9, 15, 2, 0, tzinfo=UTC), datetime(2025, 9, 16, 2, 0, tzinfo=UTC)),
        (datetime(2025, 12, 31, 23, 0, tzinfo=UTC), datetime(2026, 1, 1, 2, 0, tzinfo=UTC)),
    ],
)
def test_the_next_run_is_the_first_one_of_the_crontab_after_now(now, expected):
    schedule = purge_schedule(now=now)

    assert schedule.cron == "0 2 * * *"
    assert schedule.enabled is True
    assert schedule.next_run_at == expected


def test_a_disabled_schedule_has_no_next_run():
    PeriodicTask.objects.filter(task="cleanup.tasks.purge_expired_data_task").update(enabled=False)

    schedule = purge_schedule(now=NOW)

    assert (schedule.cron, schedule.enabled, schedule.next_run_at) == ("0 2 * * *", False, None)


def test_no_schedule_at_all():
    PeriodicTask.objects.filter(task="cleanup.tasks.purge_expired_data_task").delete()

    assert purge_schedule(now=NOW).next_run_at is None


def test_orphans_are_profiles_without_events_and_expired_ones_also_untouched_since_the_cutoff():
    profile_at(LONG_AGO)  # orphan, expired
    profile_at(NOW)  # orphan, recent
    with_old_event = profile_at(LONG_AGO)
    event_at(LONG_AGO, with_old_event)  # expires with its event
    with_recent_event = profile_at(LONG_AGO)
    event_at(NOW, with_recent_event)  # kept by its event

    assert profiles_orphaned_count() == 2
    assert profiles_expired_count(cutoff=CUTOFF) == 2
