"""The purge of expired data. Every entry point (celery-beat, POST /cleanup/manual, the
purge_old_data command) records a PurgeRun and runs it through `purge_run_execute`.

Events go first, then the profiles left with no events (Event.profile is PROTECT). Both phases
delete in batches by primary key, each batch its own short transaction, so memory stays constant
and inserts go on meanwhile. The lock is the unique `PurgeRun.running_lock` column.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, reset_queries, transaction
from django.utils import timezone

from cleanup import selectors
from cleanup.models import PURGE_LOCK, PurgeOutcome, PurgeRun, PurgeTrigger
from cleanup.run_records import describe, run_finish, run_record, run_start_failed
from core.db import DEADLOCK_ERROR, LOCK_WAIT_TIMEOUT, ROW_REFERENCED, run_retrying
from events.models import Event, Profile, SyncStatus

logger = logging.getLogger(__name__)

T = TypeVar("T")

# A batch is run again after a lock wait timeout, a deadlock, or a row still referenced (a
# profile that got an event between the NOT EXISTS and the delete).
BATCH_RETRY_ON = frozenset({LOCK_WAIT_TIMEOUT, DEADLOCK_ERROR, ROW_REFERENCED})
# Bounds of the inputs: a century of retention; batches whose ids still fit easily in memory.
MAX_DAYS = 36500
MAX_BATCH_SIZE = 100_000


class PurgeAlreadyRunning(Exception):
    """Another purge holds the lock; `run` is this attempt, recorded as skipped."""

    def __init__(self, run: PurgeRun) -> None:
        super().__init__(run.error)
        self.run = run


class PurgeFailed(Exception):
    """The purge stopped on an error; `run` records it and what was deleted before."""

    def __init__(self, run: PurgeRun) -> None:
        super().__init__(run.error)
        self.run = run


class PurgeRunNotQueued(Exception):
    """The run was already started (a task delivered twice): nothing to do."""


class PurgeQueueUnavailable(Exception):
    """The broker refused the task; `run` is recorded as failed."""

    def __init__(self, run: PurgeRun) -> None:
        super().__init__(run.error)
        self.run = run


class PurgeLockLost(Exception):
    """Our lock was taken over as stale: another purge may be running now, so we stop."""


@dataclass
class PurgeProgress:
    phase: str  # "events", "profiles" or "done"
    events_deleted: int = 0
    unsynced_events_deleted: int = 0
    profiles_deleted: int = 0


ProgressCallback = Callable[[PurgeProgress], None]


def purge_run_create(
    *,
    trigger: PurgeTrigger,
    days: int | None = None,
    dry_run: bool = False,
    batch_size: int | None = None,
) -> PurgeRun:
    days = settings.DATA_RETENTION_DAYS if days is None else days
    batch_size = settings.PURGE_BATCH_SIZE if batch_size is None else batch_size
    if not 1 <= days <= MAX_DAYS or not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"days must be 1 to {MAX_DAYS}, batch_size 1 to {MAX_BATCH_SIZE}")
    return PurgeRun.objects.create(
        trigger=trigger, retention_days=days, dry_run=dry_run, batch_size=batch_size
    )


def purge_expired_data(
    *,
    trigger: PurgeTrigger,
    days: int | None = None,
    dry_run: bool = False,
    batch_size: int | None = None,
    now: datetime | None = None,
    on_progress: ProgressCallback | None = None,
) -> PurgeRun:
    """Deletes events created more than `days` days before `now` (default: the retention
    setting, the current time), then the profiles left with no events.

    Raises PurgeAlreadyRunning when another purge holds the lock and PurgeFailed on an error;
    either way the run is recorded.
    """
    run = purge_run_create(trigger=trigger, days=days, dry_run=dry_run, batch_size=batch_size)
    return purge_run_execute(run_id=run.pk, now=now, on_progress=on_progress)


def purge_run_queue_failed(*, run: PurgeRun, error: BaseException) -> None:
    """Records a run the broker would not take as failed, saying why."""
    run_finish(
        run=run,
        progress=PurgeProgress(phase="events"),
        outcome=PurgeOutcome.FAILED,
        error=f"Could not queue the purge: {describe(error)}",
    )


def purge_run_execute(
    *, run_id: int, now: datetime | None = None, on_progress: ProgressCallback | None = None
) -> PurgeRun:
    """Runs a queued PurgeRun: takes the lock, deletes (or counts, in a dry run), records.

    A run that can't start (a deadlock, the database away) is recorded as failed and raises
    PurgeFailed: it is never left `queued`, nor `running` with the lock."""
    progress = PurgeProgress(phase="events")
    try:
        run = PurgeRun.objects.get(pk=run_id)
        cutoff = selectors.purge_cutoff(days=run.retention_days, now=now)
        _lock_acquire(run=run, cutoff=cutoff)  # on an error, the lock is not ours
    except DatabaseError as error:
        logger.exception("Purge run #%s could not start", run_id)
        raise PurgeFailed(run_start_failed(run_id=run_id, error=error)) from error
    try:
        run.refresh_from_db()
        if run.dry_run:
            progress.events_deleted = selectors.events_expired_count(cutoff=cutoff)
            progress.unsynced_events_deleted = selectors.events_expired_unsynced_count(
                cutoff=cutoff
            )
            progress.profiles_deleted = selectors.profiles_expired_count(cutoff=cutoff)
        else:
            _events_delete(run=run, cutoff=cutoff, progress=progress, on_progress=on_progress)
            progress.phase = "profiles"
            _profiles_delete(run=run, cutoff=cutoff, progress=progress, on_progress=on_progress)
    except BaseException as error:
        logger.exception("Purge run #%s failed", run.pk)
        run_finish(run=run, progress=progress, outcome=PurgeOutcome.FAILED, error=describe(error))
        if isinstance(error, Exception):
            raise PurgeFailed(run) from error
        raise  # KeyboardInterrupt, SystemExit: recorded, and let them stop the process
    progress.phase = "done"
    run_finish(run=run, progress=progress, outcome=PurgeOutcome.SUCCEEDED)
    if on_progress:
        on_progress(progress)
    if run.unsynced_events_deleted and not run.dry_run:
        logger.warning(
            "Purge run #%s deleted %s events that never reached Klaviyo",
            run.pk,
            run.unsynced_events_deleted,
        )
    logger.info("Purge run #%s: %s", run.pk, run.summary)
    return run


def _lock_acquire(*, run: PurgeRun, cutoff: datetime) -> None:
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.PURGE_LOCK_STALE_SECONDS)
    stale = PurgeRun.objects.filter(running_lock=PURGE_LOCK, heartbeat_at__lt=stale_before)
    abandoned = run_retrying(
        lambda: stale.update(
            running_lock=None,
            outcome=PurgeOutcome.FAILED,
            finished_at=now,
            error=(
                f"Abandoned: no progress for {settings.PURGE_LOCK_STALE_SECONDS} seconds "
                "(the process running it stopped); its lock was freed."
            ),
        ),
        what="Freeing a stale purge lock",
    )
    if abandoned:
        logger.warning("Freed the lock of a purge that made no progress (crashed?)")

    def take() -> int:
        with transaction.atomic():
            return PurgeRun.objects.filter(pk=run.pk, outcome=PurgeOutcome.QUEUED).update(
                running_lock=PURGE_LOCK,
                outcome=PurgeOutcome.RUNNING,
                cutoff=cutoff,
                started_at=now,
                heartbeat_at=now,
            )

    try:
        # A burst of purges deadlocks on the lock's unique index: InnoDB rolls one back whole.
        taken = run_retrying(take, what=f"Purge run #{run.pk} taking the lock")
    except IntegrityError:
        holder = selectors.purge_run_running()
        error = "Another purge is running"
        if holder is not None and holder.started_at is not None:
            error += f" (run #{holder.pk}, started {holder.started_at:%Y-%m-%dT%H:%M:%SZ})"
        run_record(
            PurgeRun.objects.filter(pk=run.pk),
            outcome=PurgeOutcome.SKIPPED,
            error=error + ".",
            finished_at=now,
        )
        run.refresh_from_db()
        logger.warning("Purge run #%s skipped: %s", run.pk, run.error)
        raise PurgeAlreadyRunning(run) from None
    if not taken:
        raise PurgeRunNotQueued(f"Purge run #{run.pk} was already started.")


def _events_delete(
    *,
    run: PurgeRun,
    cutoff: datetime,
    progress: PurgeProgress,
    on_progress: ProgressCallback | None,
) -> None:
    since: datetime | None = None
    while True:
        # The batch comes from the created_at index alone (it holds the id), the deletes go by
        # primary key. Each scan starts where the last batch ended, not over the index entries
        # InnoDB has not yet cleaned up after the earlier batches.
        expired = Event.objects.filter(created_at__lt=cutoff)
        if since is not None:
            expired = expired.filter(created_at__gte=since)
        batch = list(
            expired.order_by("created_at").values_list("id", "created_at")[: run.batch_size]
        )
        if not batch:
            return
        ids = [event_id for event_id, _ in batch]
        unsynced, deleted = _batch_run(lambda ids=ids: _event_batch_delete(ids=ids))
        progress.events_deleted += deleted
        progress.unsynced_events_deleted += unsynced
        _progress_save(run=run, progress=progress, on_progress=on_progress)
        since = batch[-1][1]


def _event_batch_delete(*, ids: list) -> tuple[int, int]:
    """Deletes a batch of events; returns (those not sent to Klaviyo, all)."""
    label = Event._meta.label
    batch = Event.objects.filter(pk__in=ids)
    with transaction.atomic():
        # Two statements, so that the unsynced count is the rows' status when deleted.
        _, unsynced = batch.exclude(sync_status=SyncStatus.SENT).delete()
        _, sent = batch.delete()
    return unsynced.get(label, 0), unsynced.get(label, 0) + sent.get(label, 0)


def _profiles_delete(
    *,
    run: PurgeRun,
    cutoff: datetime,
    progress: PurgeProgress,
    on_progress: ProgressCallback | None,
) -> None:
    """Walks the profile table in primary-key chunks of batch_size rows, deleting in each the
    expired profiles that have no events."""
    after = 0
    while True:
        bounds = Profile.objects.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)
        up_to = next(iter(bounds[run.batch_size - 1 : run.batch_size]), None)
        deleted = _batch_run(
            lambda after=after, up_to=up_to: _profile_chunk_delete(
                after=after, up_to=up_to, cutoff=cutoff
            )
        )
        progress.profiles_deleted += deleted
        _progress_save(run=run, progress=progress, on_progress=on_progress)
        if up_to is None:
            return
        after = up_to


def _profile_chunk_delete(*, after: int, up_to: int | None, cutoff: datetime) -> int:
    """Deletes the profiles with after < id <= up_to (no upper bound when None) untouched since
    the cutoff and with no events. One statement: the NOT EXISTS is checked as the row is
    deleted, so a profile that an ingest gives an event meanwhile stays."""
    profile = Profile._meta.db_table
    event = Event._meta.db_table
    profile_fk = Event._meta.get_field("profile").column
    sql = (
        f"DELETE FROM {profile} WHERE id > %s AND updated_at < %s "
        f"AND NOT EXISTS (SELECT 1 FROM {event} WHERE {event}.{profile_fk} = {profile}.id)"
    )
    params: list = [after, connection.ops.adapt_datetimefield_value(cutoff)]
    if up_to is not None:
        sql += " AND id <= %s"
        params.append(up_to)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _batch_run(operation: Callable[[], T]) -> T:
    return run_retrying(operation, what="Purge batch", retry_on=BATCH_RETRY_ON, pause_seconds=0.2)


def _progress_save(
    *, run: PurgeRun, progress: PurgeProgress, on_progress: ProgressCallback | None
) -> None:
    """Records the counts so far and proves the run alive (its heartbeat)."""
    alive = run_retrying(
        lambda: PurgeRun.objects.filter(pk=run.pk, running_lock=PURGE_LOCK).update(
            heartbeat_at=timezone.now(),
            events_deleted=progress.events_deleted,
            unsynced_events_deleted=progress.unsynced_events_deleted,
            profiles_deleted=progress.profiles_deleted,
        ),
        what=f"Purge run #{run.pk} recording its progress",
    )
    if not alive:
        raise PurgeLockLost(
            "The lock was taken over after a long pause; stopped so that two purges never overlap."
        )
    # With DEBUG on, every statement is kept in memory until the request ends; a purge is long.
    reset_queries()
    if on_progress:
        on_progress(progress)
