"""cleanup.tasks.purge_expired_data_task, as celery-beat and the async API call it."""

import pytest

from cleanup.models import PurgeOutcome, PurgeRun, PurgeTrigger
from cleanup.services import purge_run_create
from cleanup.tasks import purge_expired_data_task
from cleanup.tests.conftest import days_ago, event_at, running_run
from events.models import Event

pytestmark = pytest.mark.django_db


def test_beat_runs_a_purge_of_the_retention_period(settings):
    settings.DATA_RETENTION_DAYS = 3
    event_at(days_ago(4))
    kept = event_at(days_ago(2))

    purge_expired_data_task.delay()

    run = PurgeRun.objects.get()
    assert (run.trigger, run.outcome, run.retention_days) == (
        PurgeTrigger.BEAT,
        PurgeOutcome.SUCCEEDED,
        3,
    )
    assert list(Event.objects.values_list("id", flat=True)) == [kept.id]


def test_beat_records_a_skipped_run_while_another_purge_runs():
    other = running_run()
    event_at(days_ago(10))

    purge_expired_data_task.delay()

    skipped = PurgeRun.objects.exclude(pk=other.pk).get()
    assert skipped.outcome == PurgeOutcome.SKIPPED
    assert Event.objects.count() == 1


def test_it_runs_the_queued_run_it_is_given():
    event_at(days_ago(10))
    queued = purge_run_create(trigger=PurgeTrigger.MANUAL, days=5, dry_run=True)

    purge_expired_data_task.delay(run_id=queued.pk)

    queued.refresh_from_db()
    assert (queued.outcome, queued.events_deleted) == (PurgeOutcome.SUCCEEDED, 1)
    assert Event.objects.count() == 1  # a dry run


def test_a_run_delivered_twice_runs_once():
    event_at(days_ago(10))
    queued = purge_run_create(trigger=PurgeTrigger.MANUAL)
    purge_expired_data_task.delay(run_id=queued.pk)
    event_at(days_ago(10))

    purge_expired_data_task.delay(run_id=queued.pk)

    queued.refresh_from_db()
    assert (queued.outcome, queued.events_deleted) == (PurgeOutcome.SUCCEEDED, 1)
    assert Event.objects.count() == 1
    assert PurgeRun.objects.count() == 1
