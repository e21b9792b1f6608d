"""Recording a purge run's outcome, so that the lock always comes back: each UPDATE runs again
after a deadlock (a burst of purges deadlocks on the lock's unique index) and while the
database is away, for up to RECORD_UNAVAILABLE_SECONDS. They set values, so running one twice
is harmless. A run left `running` would hold the lock and every purge would be refused until
PURGE_LOCK_STALE_SECONDS; a run left `queued` would never say what became of it."""

import logging
from typing import Protocol

from django.db import DatabaseError
from django.db.models import QuerySet
from django.utils import timezone

from cleanup.models import PurgeOutcome, PurgeRun
from core.db import run_retrying

logger = logging.getLogger(__name__)

ERROR_MAX_CHARS = 2000
RECORD_UNAVAILABLE_SECONDS = 30.0


class Counts(Protocol):
    events_deleted: int
    unsynced_events_deleted: int
    profiles_deleted: int


def run_finish(*, run: PurgeRun, progress: Counts, outcome: PurgeOutcome, error: str = "") -> None:
    """Records the outcome and frees the lock (this run's row only: never another's)."""
    try:
        run_record(
            PurgeRun.objects.filter(pk=run.pk),
            outcome=outcome,
            error=error[:ERROR_MAX_CHARS],
            events_deleted=progress.events_deleted,
            unsynced_events_deleted=progress.unsynced_events_deleted,
            profiles_deleted=progress.profiles_deleted,
            finished_at=timezone.now(),
            running_lock=None,
        )
        run.refresh_from_db()
    except DatabaseError:
        # The database is gone for longer: the lock frees itself after PURGE_LOCK_STALE_SECONDS.
        logger.exception("Purge run #%s: could not record its outcome", run.pk)


def run_start_failed(*, run_id: int, error: BaseException) -> PurgeRun:
    """A run that never took the lock is failed, not left `queued` (only if still queued: a
    second delivery of its task may be running it). Returns it as recorded, or as it should
    have been when the database is still away."""
    failed = PurgeRun(
        pk=run_id,
        outcome=PurgeOutcome.FAILED,
        error=f"Could not start: {describe(error)}"[:ERROR_MAX_CHARS],
        finished_at=timezone.now(),
    )
    try:
        run_record(
            PurgeRun.objects.filter(pk=run_id, outcome=PurgeOutcome.QUEUED),
            outcome=failed.outcome,
            error=failed.error,
            finished_at=failed.finished_at,
        )
        return PurgeRun.objects.get(pk=run_id)
    except (DatabaseError, PurgeRun.DoesNotExist):
        logger.exception("Purge run #%s: could not record that it could not start", run_id)
        return failed


def run_record(runs: QuerySet[PurgeRun], **changes: object) -> None:
    """An UPDATE of a run's record, again after a deadlock or while the database is away (for
    up to RECORD_UNAVAILABLE_SECONDS): it sets values, so running it twice is harmless."""
    run_retrying(
        lambda: runs.update(**changes),
        what="Recording a purge run",
        unavailable_for=RECORD_UNAVAILABLE_SECONDS,
    )


def describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
