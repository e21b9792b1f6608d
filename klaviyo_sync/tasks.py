"""Celery tasks of the sync. Each fetches rows by id and calls a service; acks late and reject on
worker lost come from settings, so a killed worker's task is delivered again (and the claim
in the service keeps a second delivery from sending twice).

Queueing never raises: when the broker is down the rows stay pending, marked due
(`requeue_at`), and the sweeper (`requeue_stale_pending_events`, on beat every
SYNC_SWEEP_INTERVAL_SECONDS) queues them as soon as the broker is back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Any
from uuid import UUID

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from events.models import Event, SyncStatus
from klaviyo_client.errors import KlaviyoError
from klaviyo_client.limits import MAX_BULK_PROFILES
from klaviyo_sync.broker_loss import (
    broker_queue_lost,
    broker_queue_mark,
    events_due_after_broker_loss,
)
from klaviyo_sync.consent_sync import consent_change_sync, consent_changes_stale
from klaviyo_sync.erasure_sync import import_job_ended, import_job_listed
from klaviyo_sync.profile_bulk import (
    BulkPlan,
    JobCarried,
    JobFollowed,
    profile_import_job_abandon,
    profile_import_job_hold,
    profile_import_job_settle,
    profiles_changes_send_bulk,
)
from klaviyo_sync.profile_changes import profile_changes_sync, profiles_with_stale_changes
from klaviyo_sync.profile_sync import profile_sync
from klaviyo_sync.services import (
    RETRYABLE_STATUSES,
    events_requeue_stale,
    events_retry_failed,
    events_sync,
)

logger = logging.getLogger(__name__)
# A backlog's batches are queued behind every other task (Redis serves a queue's priority 0
# first, then kombu's steps 3, 6, 9): the follow-ups of its jobs already sent, and any single
# send, then run between its batches instead of after the last one. Measured on a drain of
# 100,000 profiles (bench/profiles.py): the jobs' 20 reads had all waited for the 10th send,
# bunched at the end under their 10/s limit.
BACKLOG_PRIORITY = 6
# Profiles per task of a backlog: what one profile-bulk-import-job takes.
PROFILE_BULK_BATCH = MAX_BULK_PROFILES


def queue_event_sync(event_ids: Sequence[str], *, countdown: float | None = None) -> bool:
    """Queues one sync task for these events; False (logged) when the broker can't take it."""
    if not event_ids:
        return True
    try:
        sync_events.apply_async(args=[list(event_ids)], countdown=countdown or None)
    except Exception as error:  # kombu/redis errors vary by transport; none may reach the caller
        logger.warning(
            "Could not queue the Klaviyo sync of %d events (%s: %s); the sweeper will",
            len(event_ids),
            type(error).__name__,
            error,
            extra={"events": len(event_ids)},
        )
        _mark_not_queued(event_ids)
        return False
    return True


def _mark_not_queued(event_ids: Sequence[str]) -> None:
    """The sweeper queues these as soon as they may be sent (at once, or at a retry's time),
    not after SYNC_STALE_PENDING_SECONDS as if a task were waiting for them. A row claimed
    meanwhile keeps its lease's end (next_attempt_at) as its time."""
    try:
        Event.objects.filter(id__in=list(event_ids), sync_status=SyncStatus.PENDING).update(
            requeue_at=Coalesce(F("next_attempt_at"), timezone.now())
        )
    except DatabaseError as error:
        # The database is away too: they are swept SYNC_STALE_PENDING_SECONDS after saved.
        logger.warning("Could not mark %d events as not queued (%s)", len(event_ids), error)


def queue_events_in_batches(event_ids: Sequence[str]) -> None:
    """One task per bulk-sized batch, never one per event."""
    size = settings.KLAVIYO_BULK_BATCH_SIZE
    for start in range(0, len(event_ids), size):
        queue_event_sync(event_ids[start : start + size])


@dataclass(frozen=True)
class RetryQueued:
    requeued: int  # put back to pending
    not_queued: int  # of those, left for the sweeper: the broker could not take them


def events_retry_and_queue(
    event_ids: Iterable[str | UUID], *, statuses: Sequence[str] = RETRYABLE_STATUSES
) -> RetryQueued:
    """Staff's "retry": failed (and skipped) events back to pending, queued in batches.
    Reads all ids first: never change rows under an open cursor over them."""
    ids_left = iter(list(event_ids))
    requeued = not_queued = 0
    while chunk := list(islice(ids_left, settings.KLAVIYO_BULK_BATCH_SIZE)):
        ids = events_retry_failed(event_ids=chunk, statuses=statuses)
        requeued += len(ids)
        if not queue_event_sync(ids):
            not_queued += len(ids)
    return RetryQueued(requeued=requeued, not_queued=not_queued)


@shared_task(
    name="klaviyo_sync.tasks.sync_events",
    autoretry_for=(DatabaseError,),
    retry_backoff=5,
    max_retries=5,
)
def sync_events(event_ids: list[str]) -> dict[str, int]:
    outcome = events_sync(event_ids=event_ids)
    for plan in outcome.retries:
        queue_event_sync(plan.event_ids, countdown=plan.countdown)
    return {
        "sent": outcome.sent,
        "failed": outcome.failed,
        "skipped": outcome.skipped,
        "retrying": outcome.retrying,
    }


@shared_task(name="klaviyo_sync.tasks.requeue_stale_pending_events")
def requeue_stale_pending_events() -> int:
    """Queues the pending events that are due, and those whose task was lost (beat, every
    SYNC_SWEEP_INTERVAL_SECONDS)."""
    now = timezone.now()
    if broker_queue_lost():
        _requeue_after_broker_loss(now)
    batches = events_requeue_stale(
        now=now,
        older_than=timedelta(seconds=settings.SYNC_STALE_PENDING_SECONDS),
        limit=settings.SYNC_SWEEP_MAX_EVENTS,
        batch_size=settings.KLAVIYO_BULK_BATCH_SIZE,
    )
    for batch in batches:
        queue_event_sync(batch)
    queued = sum(len(batch) for batch in batches)
    if queued:
        logger.info("Sweeper re-queued %d pending events", queued, extra={"events": queued})
    return queued


def _requeue_after_broker_loss(now: datetime) -> None:
    """The broker lost its queue (klaviyo_sync/broker_loss.py): the events whose tasks were in
    it are made due, and the profiles and consent changes waiting for theirs are queued now,
    not after SYNC_STALE_PENDING_SECONDS (a claim or a retry keeps waiting for its time)."""
    events = events_due_after_broker_loss(now=now)
    every_waiting = {
        "now": now,
        "older_than": timedelta(0),
        "limit": settings.SYNC_SWEEP_MAX_EVENTS,
    }
    profiles = profiles_with_stale_changes(**every_waiting)
    queue_profiles_sync(profiles)
    consent_changes = consent_changes_stale(**every_waiting)
    queue_consent_changes(consent_changes)
    broker_queue_mark()
    if events or profiles or consent_changes:
        logger.warning(
            "The broker came back without its queue: %d pending events due again, "
            "%d profiles and %d consent changes queued again",
            events,
            len(profiles),
            len(consent_changes),
            extra={"events": events},
        )


def queue_profile_sync(profile_id: int) -> bool:
    """Queues one profile's sync; False (logged) when the broker can't take it."""
    try:
        sync_profile.delay(profile_id)
    except Exception as error:  # kombu/redis errors vary by transport; none may reach the caller
        logger.warning(
            "Could not queue the Klaviyo sync of profile %s (%s: %s)",
            profile_id,
            type(error).__name__,
            error,
        )
        return False
    return True


@shared_task(name="klaviyo_sync.tasks.sync_profile")
def sync_profile(profile_id: int) -> str:
    return profile_sync(profile_id=profile_id).sync_status


def queue_profiles_sync(profile_ids: Iterable[int], *, countdown: float | None = None) -> None:
    """Queues the sync of profiles whose changes (POST /profiles) wait: one task for one
    profile, one task per PROFILE_BULK_BATCH of them for more; never raises (the sweeper
    queues what the broker could not take)."""
    ids = list(dict.fromkeys(profile_ids))
    batches = [
        ids[start : start + PROFILE_BULK_BATCH] for start in range(0, len(ids), PROFILE_BULK_BATCH)
    ]
    for batch in batches:
        task, args, priority = (
            (sync_profile_changes, [batch[0]], None)
            if len(batch) == 1
            else (sync_profiles_changes, [batch], BACKLOG_PRIORITY)
        )
        try:
            task.apply_async(args=args, countdown=countdown or None, priority=priority)
        except Exception as error:  # as queue_event_sync: no broker error reaches the caller
            logger.warning(
                "Could not queue the Klaviyo sync of %d profiles (%s: %s); the sweeper will",
                len(batch),
                type(error).__name__,
                error,
                extra={"profiles": len(batch)},
            )
            return


@shared_task(
    name="klaviyo_sync.tasks.sync_profile_changes",
    autoretry_for=(DatabaseError,),
    retry_backoff=5,
    max_retries=5,
)
def sync_profile_changes(profile_id: int) -> str:
    outcome = profile_changes_sync(profile_id=profile_id)
    if outcome.retry_in is not None:
        queue_profiles_sync([profile_id], countdown=outcome.retry_in)
    return outcome.status


@shared_task(name="klaviyo_sync.tasks.requeue_stale_profile_changes")
def requeue_stale_profile_changes() -> int:
    """Queues profiles whose changes wait past SYNC_STALE_PENDING_SECONDS (beat)."""
    ids = profiles_with_stale_changes(
        now=timezone.now(),
        older_than=timedelta(seconds=settings.SYNC_STALE_PENDING_SECONDS),
        limit=settings.SYNC_SWEEP_MAX_EVENTS,
    )
    queue_profiles_sync(ids)
    if ids:
        logger.info("Sweeper re-queued %d profiles", len(ids), extra={"profiles": len(ids)})
    return len(ids)


@shared_task(
    name="klaviyo_sync.tasks.sync_profiles_changes",
    autoretry_for=(DatabaseError,),
    retry_backoff=5,
    max_retries=5,
)
def sync_profiles_changes(profile_ids: list[int]) -> dict[str, int]:
    """The changes of many profiles (a bulk upsert, the sweeper): bulk import jobs, each then
    followed by a task; profile-import for what bulk import can't do."""
    if len(profile_ids) < BULK_IMPORT_FROM:
        plan = BulkPlan(one_by_one=list(profile_ids))
    else:
        plan = profiles_changes_send_bulk(profile_ids=profile_ids)
    for job_id, carried in plan.jobs:
        import_job_listed(job_id=job_id)  # until it ended: erasures wait for it
        _follow_job(job_id, carried.as_task_argument(), polls=0)
    for ids, delay in plan.retry:
        queue_profiles_sync(ids, countdown=delay)
    for profile_id in plan.one_by_one:
        outcome = profile_changes_sync(profile_id=profile_id)
        if outcome.retry_in is not None:
            queue_profiles_sync([profile_id], countdown=outcome.retry_in)
    return {
        "jobs": len(plan.jobs),
        "one_by_one": len(plan.one_by_one),
        "retrying": sum(len(ids) for ids, _ in plan.retry),
    }


# Fewer profiles than this go through profile-import: a job costs 1/150 of a minute's bulk quota
# (and polls of its own), a profile-import 1/700 of its quota; about 5 of these make one job.
BULK_IMPORT_FROM = 5

# Following a job: Klaviyo answers its POST `queued` and runs it afterwards. The first poll a
# tenth of a second later, each next one twice as far, up to a minute apart, for about 3
# hours: a job that ends at once is seen ended within half a second, a long one costs a few
# polls of the job GET's own budget (10/s, 150/m, guarded by the client's limiter) before the
# minute (one or two more than a first poll at 0.25 s: at 0.1, 0.3, 0.7, 1.5, 3.1 s, ...). On the
# drain of 100,000 profiles (bench/profiles.py), the last job's two polls and its settle are
# the drain's tail: 0.25 s for the first made it 0.6 s longer (6.24-6.84 s against 5.47-6.33).
# "Twice as far" from the start of the poll before: the time a poll took (a slow answer, a
# wait for the client's limiter) is not added to the schedule. Measured on the same drain: the
# last job's first poll took half a second, and its next one waited as long again after that.
JOB_POLL_FIRST_SECONDS = 0.1
JOB_POLL_MAX_SECONDS = 60.0
JOB_MAX_POLLS = 200


def job_age(polls: int) -> float:
    """About how long ago a job was accepted when its poll number `polls` comes."""
    return sum(min(JOB_POLL_FIRST_SECONDS * 2**poll, JOB_POLL_MAX_SECONDS) for poll in range(polls))


def _follow_job(job_id: str, carried: dict[str, Any], *, polls: int, spent: float = 0.0) -> None:
    """Queues poll number `polls`; `spent`: seconds since the poll before it began."""
    countdown = max(0.0, min(JOB_POLL_FIRST_SECONDS * 2**polls, JOB_POLL_MAX_SECONDS) - spent)
    try:
        follow_profile_import_job.apply_async(args=[job_id, carried, polls], countdown=countdown)
    except Exception as error:  # as queue_event_sync; the sweeper sends the profiles again
        logger.warning("Could not queue the follow-up of import job %s (%s)", job_id, error)


@shared_task(
    name="klaviyo_sync.tasks.follow_profile_import_job",
    autoretry_for=(DatabaseError,),
    retry_backoff=5,
    max_retries=5,
)
def follow_profile_import_job(job_id: str, carried: Any, polls: int) -> str:
    """Until the job has ended; then its import errors fail the profiles they name.
    `carried`: JobCarried.as_task_argument() (or the older [profile, last change] pairs)."""
    started = time.monotonic()
    job = JobCarried.from_task_argument(carried)
    try:
        followed = profile_import_job_settle(job_id=job_id, carried=job)
    except KlaviyoError as error:
        followed = JobFollowed(f"unknown ({error.summary})")
    status = followed.running
    if status is None:
        import_job_ended(job_id=job_id)
        queue_profiles_sync(followed.waiting)
        return "settled"
    if polls + 1 >= JOB_MAX_POLLS:
        profile_import_job_abandon(job_id=job_id, profile_ids=job.profiles)
        import_job_ended(job_id=job_id)
        return "abandoned"
    if job_age(polls) > settings.SYNC_STALE_PENDING_SECONDS / 2:  # a minute apart by then
        profile_import_job_hold(profile_ids=job.profiles)
    _follow_job(job_id, job.as_task_argument(), polls=polls + 1, spent=time.monotonic() - started)
    return status


def queue_consent_changes(change_ids: Iterable[int], *, countdown: float | None = None) -> None:
    """One task per consent change (each is up to 1,000 addresses, sent in order); never
    raises: what the broker could not take, the sweeper queues."""
    for change_id in dict.fromkeys(change_ids):
        try:
            sync_consent_change.apply_async(args=[change_id], countdown=countdown or None)
        except Exception as error:  # as queue_event_sync: no broker error reaches the caller
            logger.warning(
                "Could not queue the Klaviyo send of consent change %s (%s: %s); the sweeper will",
                change_id,
                type(error).__name__,
                error,
            )
            return


@shared_task(
    name="klaviyo_sync.tasks.sync_consent_change",
    autoretry_for=(DatabaseError,),
    retry_backoff=5,
    max_retries=5,
)
def sync_consent_change(change_id: int) -> str:
    outcome = consent_change_sync(change_id=change_id)
    if outcome.retry_in is not None:
        queue_consent_changes([change_id], countdown=outcome.retry_in)
    queue_consent_changes(outcome.followers)
    return outcome.status


@shared_task(name="klaviyo_sync.tasks.requeue_stale_consent_changes")
def requeue_stale_consent_changes() -> int:
    """Queues the pending consent changes nobody has queued for SYNC_STALE_PENDING_SECONDS
    (beat)."""
    ids = consent_changes_stale(
        now=timezone.now(),
        older_than=timedelta(seconds=settings.SYNC_STALE_PENDING_SECONDS),
        limit=settings.SYNC_SWEEP_MAX_EVENTS,
    )
    queue_consent_changes(ids)
    if ids:
        logger.info("Sweeper re-queued %d consent changes", len(ids), extra={"changes": len(ids)})
    return len(ids)
