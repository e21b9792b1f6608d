"""Writes of the sync: sending events (with their profiles) to Klaviyo and recording on each row
what happened. Celery plumbing lives in tasks.py; these functions only say what to retry when.

An event moves pending -> sent | failed | skipped. A worker first *claims* the pending rows it
was given (attempts + 1, `next_attempt_at` = now + lease), so two tasks holding the same ids
never both send them; a crashed worker's claim expires with the lease (lease.py: about 50 s),
when the sweeper queues the rows again (`requeue_at`). What Klaviyo accepts is recorded at once,
request by request, so a batch interrupted half way is sent again only for the rest. Klaviyo
also dedupes on each event's `unique_id`, so even a send repeated after a crash counts once.
"""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from core.db import run_retrying
from events.failures import failure_reason
from events.models import NO_KEY_MESSAGE, Event, Profile, ProfileChange, SyncStatus
from klaviyo_client import mapping, profiles
from klaviyo_client.client import klaviyo_client
from klaviyo_client.errors import KlaviyoError, KlaviyoNotConfigured
from klaviyo_sync.lease import SendClock, claimable
from klaviyo_sync.sending import PROFILE_FIELDS, SendResults, batch_send

logger = logging.getLogger(__name__)

# Seconds the recording of what Klaviyo accepted goes on trying while the database is away
# (a restart): beyond that the rows are sent again after their lease, and Klaviyo dedupes.
RECORD_UNAVAILABLE_SECONDS = 30.0
EVENT_FIELDS = (
    "id",
    "event_name",
    "event_attributes",
    "time",
    "value",
    "value_currency",
    "unique_id",
    "profile_id",
    "profile_attributes",
    "attempts",
    "created_at",
)


@dataclass(frozen=True)
class RetryPlan:
    """Queue another sync of these events in `countdown` seconds."""

    event_ids: list[str]
    countdown: float


@dataclass
class SyncOutcome:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    retrying: int = 0
    retries: list[RetryPlan] = field(default_factory=list)


def retry_delay(*, attempt: int, retry_after: float | None = None) -> float:
    """Seconds before attempt `attempt + 1`: exponential from KLAVIYO_RETRY_BASE_DELAY, capped
    at KLAVIYO_RETRY_MAX_DELAY, with +/- KLAVIYO_RETRY_JITTER, never before Retry-After."""
    base = settings.KLAVIYO_RETRY_BASE_DELAY * 2 ** max(0, attempt - 1)
    delay = min(base, settings.KLAVIYO_RETRY_MAX_DELAY)
    delay *= 1 + random.uniform(-settings.KLAVIYO_RETRY_JITTER, settings.KLAVIYO_RETRY_JITTER)
    if retry_after:
        delay = max(delay, retry_after)
    return round(max(0.0, min(delay, settings.KLAVIYO_RETRY_MAX_DELAY)), 3)


def events_sync(*, event_ids: Sequence[str | UUID]) -> SyncOutcome:
    """Sends the given events that are still pending to Klaviyo and records the outcome.

    Idempotent: rows already sent, failed, skipped, deleted or held by another worker are left
    alone. Without KLAVIYO_API_KEY the pending ones become `skipped`.
    """
    ids = [UUID(str(event_id)) for event_id in event_ids]
    if not ids:
        return SyncOutcome()
    client = klaviyo_client()
    if client is None:
        return _events_skip(ids)
    clock = SendClock(
        lease_seconds=settings.KLAVIYO_SEND_LEASE_SECONDS,
        connect_timeout=settings.KLAVIYO_CONNECT_TIMEOUT,
        read_timeout=settings.KLAVIYO_READ_TIMEOUT,
        rate_limit_max_wait=client.rate_limit_max_wait,
    )
    now = timezone.now()
    lease_end = now + timedelta(seconds=settings.KLAVIYO_SEND_LEASE_SECONDS)
    claimed = _update(
        Event.objects.filter(id__in=ids, sync_status=SyncStatus.PENDING).filter(claimable(now)),
        attempts=F("attempts") + 1,
        last_attempt_at=now,
        next_attempt_at=lease_end,
        requeue_at=lease_end,  # the worker died if the rows are still claimed then
    )
    if not claimed:
        return SyncOutcome()
    rows = {
        row["id"]: row
        for row in Event.objects.filter(
            id__in=ids, sync_status=SyncStatus.PENDING, last_attempt_at=now
        ).values(*EVENT_FIELDS)
    }
    profiles_read_at = timezone.now()
    profile_rows = Profile.objects.filter(
        id__in={row["profile_id"] for row in rows.values()}
    ).values(*PROFILE_FIELDS)

    def record_accepted(event_ids: list[UUID]) -> None:
        _sent_record(
            results, event_ids, claimed_at=now, profiles_read_at=profiles_read_at, outcome=outcome
        )

    outcome = SyncOutcome()
    results = SendResults(rows, clock=clock, on_accepted=record_accepted)
    try:
        batch_send(client, rows=rows, profile_rows=profile_rows, results=results, now=now)
    except DatabaseError:
        raise  # the rows keep their claim: sent again after the lease (the task retries too)
    except Exception as error:
        # A bug must not leave rows claimed for ever: what has no outcome yet is retried,
        # and fails for good after KLAVIYO_MAX_ATTEMPTS like any other failure.
        logger.exception("Klaviyo sync of %d events failed unexpectedly", len(rows))
        internal = KlaviyoError(
            status=None, retryable=True, detail=f"Internal error: {type(error).__name__}"
        )
        decided = {*results.sent, *results.failed, *results.retry, *results.deferred}
        results.klaviyo_failed(internal, [i for i in rows if i not in decided])
    return _record(results, claimed_at=now, outcome=outcome)


def _update(rows: QuerySet[Any], *, unavailable_for: float = 0.0, **changes: Any) -> int:
    """One UPDATE of the sync's bookkeeping, run again when InnoDB picks it as a deadlock
    victim: a claim that walks the status index can lock rows another task is recording,
    and marking profiles sent locks them in id order while an ingest takes identity order.
    Each statement is whole or nothing, so running it again counts nothing twice."""
    return run_retrying(
        lambda: rows.update(**changes),
        what="A sync status update",
        unavailable_for=unavailable_for,
    )


def _claim(claimed_at: datetime) -> QuerySet[Event]:
    """The rows this worker still holds: a claim taken over after its lease is not ours."""
    return Event.objects.filter(sync_status=SyncStatus.PENDING, last_attempt_at=claimed_at)


def _sent_record(
    results: SendResults,
    event_ids: list[UUID],
    *,
    claimed_at: datetime,
    profiles_read_at: datetime,
    outcome: SyncOutcome,
) -> None:
    """Marks events Klaviyo accepted as sent, and their profiles, unchanged since read, too.
    Tried again through a lost connection or a restart (setting a status twice is harmless)."""
    now = timezone.now()
    outcome.sent += _update(
        _claim(claimed_at).filter(id__in=event_ids),
        unavailable_for=RECORD_UNAVAILABLE_SECONDS,
        sync_status=SyncStatus.SENT,
        klaviyo_response=mapping.SENT_MESSAGE,
        last_error="",
        failure_reason="",
        synced_at=now,
        next_attempt_at=None,
        requeue_at=None,
    )
    sent_profiles = {results.rows[event_id]["profile_id"] for event_id in event_ids}
    # Only profiles unchanged since we read them (newer attributes are still to be sent),
    # and not already recorded as sent in this state (synced_at: when their current
    # attributes reached Klaviyo), which spares most rows an update during a backlog.
    # Nor those whose own changes (POST /profiles) still wait: their sync says when.
    waiting = ProfileChange.objects.filter(profile_id=OuterRef("pk"))
    profiles = (
        Profile.objects.filter(id__in=sent_profiles, updated_at__lte=profiles_read_at)
        .exclude(Exists(waiting))
        .filter(
            ~Q(sync_status=SyncStatus.SENT)
            | Q(synced_at__isnull=True)
            | Q(synced_at__lt=F("updated_at"))
        )
    )
    _update(
        profiles,
        unavailable_for=RECORD_UNAVAILABLE_SECONDS,
        sync_status=SyncStatus.SENT,
        synced_at=now,
        last_error="",
    )


def _events_skip(ids: list[UUID]) -> SyncOutcome:
    now = timezone.now()
    pending = Event.objects.filter(id__in=ids, sync_status=SyncStatus.PENDING)
    profile_ids = set(pending.values_list("profile_id", flat=True))
    skipped = pending.update(
        sync_status=SyncStatus.SKIPPED,
        last_error=NO_KEY_MESSAGE,
        failure_reason=failure_reason(NO_KEY_MESSAGE),
        last_attempt_at=now,
        next_attempt_at=None,
    )
    Profile.objects.filter(id__in=profile_ids, sync_status=SyncStatus.PENDING).update(
        sync_status=SyncStatus.SKIPPED, last_error=NO_KEY_MESSAGE
    )
    return SyncOutcome(skipped=skipped)


def _record(results: SendResults, *, claimed_at: datetime, outcome: SyncOutcome) -> SyncOutcome:
    """Records what was not recorded as it happened: failures, retries, what was given back.
    A row waiting for a retry task is the sweeper's again SYNC_STALE_PENDING_SECONDS after
    its time, should that task be lost (tasks.py makes it due at once when it can't be queued)."""
    now = timezone.now()
    stale = timedelta(seconds=settings.SYNC_STALE_PENDING_SECONDS)
    claim = _claim(claimed_at)
    gave_up: dict[UUID, tuple[str, str | None]] = {}
    retry_groups: dict[int, list[UUID]] = defaultdict(list)
    for event_id, error in results.retry.items():
        attempts = results.rows[event_id]["attempts"]
        if attempts >= settings.KLAVIYO_MAX_ATTEMPTS:
            text = f"{error.summary} (gave up after {attempts} attempts)"
            gave_up[event_id] = (text, error.summary if error.status else None)
        else:
            retry_groups[attempts].append(event_id)
    failures: dict[tuple[str, str | None], list[UUID]] = defaultdict(list)
    for event_id, texts in {**results.failed, **gave_up}.items():
        failures[texts].append(event_id)
    for (last_error, response), event_ids in failures.items():
        outcome.failed += _update(
            claim.filter(id__in=event_ids),
            sync_status=SyncStatus.FAILED,
            last_error=last_error[:5000],
            failure_reason=failure_reason(last_error[:5000]),
            klaviyo_response=response[:5000] if response else None,
            next_attempt_at=None,
            requeue_at=None,
        )
    for attempts, event_ids in retry_groups.items():
        first = results.retry[event_ids[0]]
        delay = retry_delay(attempt=attempts, retry_after=first.retry_after)
        outcome.retrying += _update(
            claim.filter(id__in=event_ids),
            last_error=first.summary[:5000],
            failure_reason=failure_reason(first.summary[:5000]),
            klaviyo_response=first.summary[:5000] if first.status else None,
            next_attempt_at=now + timedelta(seconds=delay),
            requeue_at=now + timedelta(seconds=delay) + stale,
        )
        outcome.retries.append(RetryPlan([str(i) for i in event_ids], delay))
    deferred: dict[float, list[UUID]] = defaultdict(list)
    for event_id, seconds in results.deferred.items():
        deferred[round(seconds, 1)].append(event_id)
    for seconds, event_ids in deferred.items():
        # Never attempted: the claim's attempt is given back.
        outcome.retrying += _update(
            claim.filter(id__in=event_ids),
            attempts=F("attempts") - 1,
            next_attempt_at=now + timedelta(seconds=seconds),
            requeue_at=now + timedelta(seconds=seconds) + stale,
        )
        outcome.retries.append(RetryPlan([str(i) for i in event_ids], seconds))
    if results.bad_profiles:
        by_error: dict[str, list[int]] = defaultdict(list)
        for profile_id, text in results.bad_profiles.items():
            by_error[text].append(profile_id)
        for text, profile_ids in by_error.items():
            _update(
                Profile.objects.filter(id__in=profile_ids),
                sync_status=SyncStatus.FAILED,
                last_error=text[:5000],
            )
    return outcome


def events_requeue_stale(
    *, now: datetime, older_than: timedelta, limit: int, batch_size: int
) -> list[list[str]]:
    """Batches of pending events to queue again, due ones first: those whose `requeue_at` has
    come (queueing failed while the broker was down, a claim's lease ended with its worker,
    a retry task lost), then those queued when saved more than `older_than` ago and never
    claimed (a task lost in the broker). Both are range scans of one index.

    Each batch is stamped `requeue_at = now + older_than`: the task queued now is given that
    long before another sweep queues the rows again, so a big backlog in flight is never
    queued twice over."""
    stamp = now + older_than
    due = Event.objects.filter(sync_status=SyncStatus.PENDING, requeue_at__lte=now)
    saved_long_ago = Event.objects.filter(
        sync_status=SyncStatus.PENDING, requeue_at__isnull=True, created_at__lt=now - older_than
    )
    batches: list[list[str]] = []
    for rows, order in ((due, "requeue_at"), (saved_long_ago, "created_at")):
        since: datetime | None = None
        while (total := sum(map(len, batches))) < limit:
            # Walks the index forward; stamped rows drop out of both scans.
            page = rows.filter(**{f"{order}__gte": since}) if since is not None else rows
            chunk = list(
                page.order_by(order).values_list("id", order)[: min(batch_size, limit - total)]
            )
            if not chunk:
                break
            ids = [event_id for event_id, _ in chunk]
            _update(
                Event.objects.filter(id__in=ids, sync_status=SyncStatus.PENDING),
                requeue_at=stamp,
            )
            batches.append([str(event_id) for event_id in ids])
            since = chunk[-1][1]
    return batches


# What staff may send again: Klaviyo refused it, or no key was set when it was saved.
RETRYABLE_STATUSES = (SyncStatus.FAILED, SyncStatus.SKIPPED)


def events_retry_failed(
    *, event_ids: Iterable[str | UUID], statuses: Sequence[str] = (SyncStatus.FAILED,)
) -> list[str]:
    """Puts failed (or, with `statuses`, also skipped or even sent) events back to pending with
    a fresh attempt count, if still in one of `statuses` (a concurrent sync or retry may have
    moved them); returns the ids this call changed. Each keeps its unique_id: Klaviyo counts it
    once."""
    rows = Event.objects.filter(id__in=list(event_ids), sync_status__in=list(statuses))
    with transaction.atomic():
        ids = list(rows.select_for_update().values_list("id", flat=True))
        Event.objects.filter(id__in=ids).update(
            sync_status=SyncStatus.PENDING,
            attempts=0,
            last_error="",
            failure_reason="",
            klaviyo_response=None,
            next_attempt_at=None,
            synced_at=None,
            # Queued now (tasks.py makes them due at once if that fails).
            requeue_at=timezone.now() + timedelta(seconds=settings.SYNC_STALE_PENDING_SECONDS),
        )
    return [str(event_id) for event_id in ids]


@dataclass(frozen=True)
class SyncTestResult:
    sent: bool
    status: int | None
    message: str
    latency_ms: float | None
    unique_id: str


def klaviyo_sync_test(*, email: str, event_name: str) -> SyncTestResult:
    """Sends one test event through the same client and mapping as the pipeline and reports
    Klaviyo's answer. Nothing is stored. Raises KlaviyoNotConfigured without a key."""
    client = klaviyo_client(rate_limit_max_wait=5.0)
    if client is None:
        raise KlaviyoNotConfigured("KLAVIYO_API_KEY is not configured")
    unique_id = f"sync-test-{uuid4()}"
    row = {
        "id": unique_id,
        "event_name": event_name,
        "event_attributes": {"source": "klaviyo-backend sync-test"},
        "time": timezone.now(),
        "value": None,
        "unique_id": unique_id,
    }
    profile = profiles.profile_resource(profile_row={"email": email, "attributes": {}})
    started = time.monotonic()
    try:
        status = client.event_create(data=mapping.event_resource(event_row=row, profile=profile))
    except KlaviyoError as error:
        latency = None if error.local else round((time.monotonic() - started) * 1000, 1)
        return SyncTestResult(False, error.status, error.summary, latency, unique_id)
    latency = round((time.monotonic() - started) * 1000, 1)
    return SyncTestResult(
        True, status, f"{mapping.SENT_MESSAGE} (HTTP {status})", latency, unique_id
    )
