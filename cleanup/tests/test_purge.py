"""The purge service: what goes, what stays, dry runs, the lock, failures."""

import logging
import threading
from datetime import timedelta

import pytest
from django.db import connection

from cleanup.models import PURGE_LOCK, PurgeOutcome, PurgeRun, PurgeTrigger
from cleanup.services import (
    PurgeAlreadyRunning,
    PurgeFailed,
    PurgeProgress,
    purge_expired_data,
)
from cleanup.tests.conftest import CUTOFF, LONG_AGO, NOW, event_at, profile_at, running_run
from events.models import Event, Profile, SyncStatus

pytestmark = pytest.mark.django_db


def purge(**kwargs) -> PurgeRun:
    return purge_expired_data(
        trigger=kwargs.pop("trigger", PurgeTrigger.COMMAND), now=NOW, **kwargs
    )


def test_it_deletes_exactly_the_events_created_before_the_cutoff_to_the_second():
    profile = profile_at(NOW)
    gone = [
        event_at(CUTOFF - timedelta(seconds=1), profile),
        event_at(CUTOFF - timedelta(microseconds=1), profile),
    ]
    kept = [
        event_at(CUTOFF, profile),
        event_at(CUTOFF + timedelta(seconds=1), profile),
        event_at(NOW, profile),
    ]

    run = purge()

    assert run.cutoff == CUTOFF
    assert run.outcome == PurgeOutcome.SUCCEEDED
    assert run.events_deleted == len(gone)
    remaining = set(Event.objects.values_list("id", flat=True))
    assert remaining == {event.id for event in kept}


def test_it_measures_the_cutoff_from_the_days_asked_for():
    profile = profile_at(NOW)
    event_at(NOW - timedelta(days=2, seconds=1), profile)
    kept = event_at(NOW - timedelta(days=1, hours=23), profile)

    run = purge(days=2)

    assert run.retention_days == 2
    assert run.cutoff == (NOW - timedelta(days=2)).replace(microsecond=0)
    assert list(Event.objects.values_list("id", flat=True)) == [kept.id]


def test_orphaned_profiles_go_and_profiles_with_recent_events_stay():
    only_old = profile_at(LONG_AGO)
    event_at(LONG_AGO, only_old)
    old_and_recent = profile_at(NOW)
    event_at(LONG_AGO, old_and_recent)
    recent_event = event_at(NOW, old_and_recent)
    orphan = profile_at(LONG_AGO)
    # Saved since the cutoff (an upsert without events yet): its data is not expired.
    fresh_without_events = profile_at(CUTOFF)

    run = purge()

    assert run.events_deleted == 2
    assert run.profiles_deleted == 2
    assert set(Profile.objects.values_list("id", flat=True)) == {
        old_and_recent.id,
        fresh_without_events.id,
    }
    assert not Profile.objects.filter(pk__in=[only_old.pk, orphan.pk]).exists()
    assert list(Event.objects.values_list("id", flat=True)) == [recent_event.id]


def test_it_deletes_in_batches_across_the_whole_tables():
    profiles = [profile_at(LONG_AGO) for _ in range(7)]
    for index in range(11):
        event_at(LONG_AGO + timedelta(minutes=index), profiles[index % 7])
    survivor = profile_at(NOW)
    event_at(NOW, survivor)
    seen: list[PurgeProgress] = []

    run = purge(batch_size=2, on_progress=lambda p: seen.append(PurgeProgress(**vars(p))))

    assert (run.batch_size, run.events_deleted, run.profiles_deleted) == (2, 11, 7)
    event_steps = [p.events_deleted for p in seen if p.phase == "events"]
    assert event_steps == [2, 4, 6, 8, 10, 11]
    # Eight profiles walked two at a time: four chunks and the open-ended last one.
    assert len([p for p in seen if p.phase == "profiles"]) == 5
    assert seen[-1].phase == "done"
    assert list(Profile.objects.values_list("id", flat=True)) == [survivor.id]
    assert Event.objects.count() == 1


def test_it_counts_and_logs_the_deleted_events_that_never_reached_klaviyo(caplog):
    profile = profile_at(LONG_AGO)
    for status in SyncStatus.values:
        event_at(LONG_AGO, profile, sync_status=status)

    with caplog.at_level(logging.WARNING, logger="cleanup.services"):
        run = purge()

    assert run.events_deleted == 4
    assert run.unsynced_events_deleted == 3  # pending, failed, skipped
    assert "deleted 3 events that never reached Klaviyo" in caplog.text
    assert "(3 not yet sent to Klaviyo)" in run.summary


def test_a_dry_run_counts_what_would_go_and_deletes_nothing():
    only_old = profile_at(LONG_AGO)
    event_at(LONG_AGO, only_old, sync_status=SyncStatus.SENT)
    event_at(CUTOFF - timedelta(seconds=1), only_old)
    mixed = profile_at(NOW)
    event_at(LONG_AGO, mixed)
    event_at(NOW, mixed)
    profile_at(LONG_AGO)  # an orphan

    dry = purge(dry_run=True)

    assert dry.dry_run is True
    assert dry.outcome == PurgeOutcome.SUCCEEDED
    assert (dry.events_deleted, dry.unsynced_events_deleted, dry.profiles_deleted) == (3, 2, 2)
    assert dry.summary.startswith("Dry run: 3 events")
    assert (Event.objects.count(), Profile.objects.count()) == (4, 3)
    real = purge()
    assert (real.events_deleted, real.unsynced_events_deleted, real.profiles_deleted) == (3, 2, 2)
    assert (Event.objects.count(), Profile.objects.count()) == (1, 1)


def test_it_records_each_run_and_frees_the_lock():
    run = purge()

    assert run.trigger == PurgeTrigger.COMMAND
    assert run.running_lock is None
    assert run.started_at is not None
    assert run.finished_at >= run.started_at
    assert run.error == ""
    assert purge().outcome == PurgeOutcome.SUCCEEDED


def test_it_refuses_to_run_while_another_purge_holds_the_lock():
    other = running_run()
    event_at(LONG_AGO)

    with pytest.raises(PurgeAlreadyRunning) as raised:
        purge(trigger=PurgeTrigger.BEAT)

    skipped = raised.value.run
    skipped.refresh_from_db()
    assert skipped.outcome == PurgeOutcome.SKIPPED
    assert skipped.error.startswith(f"Another purge is running (run #{other.pk}, started ")
    assert skipped.running_lock is None
    assert Event.objects.count() == 1
    other.refresh_from_db()
    assert other.running_lock == PURGE_LOCK


def test_it_takes_over_the_lock_of_a_purge_that_stopped_making_progress(settings):
    settings.PURGE_LOCK_STALE_SECONDS = 600
    crashed = running_run(heartbeat_age=timedelta(seconds=601))
    event_at(LONG_AGO)

    run = purge()

    assert run.outcome == PurgeOutcome.SUCCEEDED
    assert run.events_deleted == 1
    crashed.refresh_from_db()
    assert crashed.outcome == PurgeOutcome.FAILED
    assert crashed.running_lock is None
    assert crashed.error.startswith("Abandoned: no progress for 600 seconds")


def test_a_run_whose_lock_was_taken_over_stops_and_says_why():
    profile = profile_at(LONG_AGO)
    for minute in range(3):
        event_at(LONG_AGO + timedelta(minutes=minute), profile)

    def lose_the_lock(progress: PurgeProgress) -> None:
        # What a second purge does to a lock it takes for stale.
        PurgeRun.objects.filter(running_lock=PURGE_LOCK).update(running_lock=None)

    with pytest.raises(PurgeFailed) as raised:
        purge(batch_size=1, on_progress=lose_the_lock)

    run = raised.value.run
    assert run.outcome == PurgeOutcome.FAILED
    assert "The lock was taken over" in run.error
    assert run.events_deleted == 2  # the batch that found out was already committed
    assert Event.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_purges_one_runs_and_the_other_reports_it():
    profile = profile_at(LONG_AGO)
    for minute in range(3):
        event_at(LONG_AGO + timedelta(minutes=minute), profile)
    first_batch_done = threading.Event()
    release = threading.Event()
    results: dict[str, object] = {}

    def hold_after_first_batch(progress: PurgeProgress) -> None:
        first_batch_done.set()
        release.wait(timeout=30)

    def first_purge() -> None:
        try:
            results["run"] = purge(batch_size=1, on_progress=hold_after_first_batch)
        except Exception as error:  # reported by the assertions below
            results["error"] = error
        finally:
            connection.close()

    worker = threading.Thread(target=first_purge)
    worker.start()
    try:
        assert first_batch_done.wait(timeout=30)
        with pytest.raises(PurgeAlreadyRunning) as raised:
            purge(trigger=PurgeTrigger.MANUAL)
    finally:
        release.set()
        worker.join(timeout=30)

    first = results.get("run")
    assert isinstance(first, PurgeRun), results
    assert first.outcome == PurgeOutcome.SUCCEEDED
    assert (first.events_deleted, first.profiles_deleted) == (3, 1)
    second = raised.value.run
    assert second.outcome == PurgeOutcome.SKIPPED
    assert f"run #{first.pk}" in second.error
    assert not Event.objects.exists()
    assert PurgeRun.objects.filter(running_lock__isnull=False).count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_failure_mid_way_is_recorded_and_leaves_the_database_consistent(poisoned_delete):
    profile = profile_at(LONG_AGO)
    events = [
        event_at(LONG_AGO + timedelta(minutes=minute), profile, event_name=name)
        for minute, name in enumerate(["Purchase", "Purchase", poisoned_delete, "Purchase"])
    ]
    fresh = event_at(NOW, profile_at(NOW))

    with pytest.raises(PurgeFailed) as raised:
        purge(batch_size=2)

    run = PurgeRun.objects.get(pk=raised.value.run.pk)
    assert run.outcome == PurgeOutcome.FAILED
    assert "poisoned row" in run.error
    assert run.events_deleted == 2  # the first batch, committed before the second failed
    assert run.profiles_deleted == 0
    assert run.running_lock is None
    assert run.finished_at is not None
    # The failed batch was rolled back whole; the profile still has its remaining events.
    assert set(Event.objects.values_list("id", flat=True)) == {
        events[2].id,
        events[3].id,
        fresh.id,
    }
    assert Profile.objects.count() == 2
    assert run.summary.startswith("Failed after deleting 2 events")
