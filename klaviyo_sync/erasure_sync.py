"""Sending an erasure request (events/erasure_services.py) to Klaviyo as a data-privacy-deletion-job
and recording the outcome on its row.

When it goes: never before the request's `hold_until` (the end of the send leases workers held on
the person's events and profile changes when they were deleted: what they had already read may
still go out until then, and must reach Klaviyo before the deletion job), nor while a profile
bulk import job started before that may still hold the person (Klaviyo runs a job after
answering it; events.ProfileImportJob lists the unfinished ones, and one older than
IMPORT_JOB_HORIZON was abandoned by its follower). Waiting costs no attempt.

Then one worker at a time: the send claims the row (attempts + 1, next_attempt_at = now + the
send lease) as the event sync claims events. Failures are recorded on the row and retried with
the sync's backoff (services.retry_delay) up to KLAVIYO_MAX_ATTEMPTS; a refusal fails it at
once. A request the client-side rate limiter holds back reached nothing: it gives the attempt
back and goes again when the limiter says (as events and consent changes do). Once Klaviyo
accepted the job, the identifier is blanked: its SHA-256 is what stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from events.models import (
    NO_KEY_MESSAGE,
    ErasureIdentifier,
    ErasureRequest,
    ErasureStatus,
    ProfileImportJob,
)
from klaviyo_client.client import KlaviyoClient, klaviyo_client
from klaviyo_client.errors import KlaviyoError
from klaviyo_sync.lease import claimable
from klaviyo_sync.services import retry_delay

# A job is followed for about 3 hours 10 minutes (tasks.JOB_MAX_POLLS polls, backing off to a
# minute); one still listed after this was left behind by a lost follower.
IMPORT_JOB_HORIZON = timedelta(hours=4)
# Seconds between looks at the import jobs an erasure waits for.
IMPORT_JOB_WAIT_SECONDS = 5.0
# A pending erasure due this long with no worker on it had its task lost: the sweeper queues it.
SWEEP_GRACE = timedelta(seconds=30)
NOTHING_IN_KLAVIYO = "Klaviyo holds no profile with this external id: nothing to erase there"


@dataclass(frozen=True)
class ErasureOutcome:
    status: str  # sent, failed, retrying, waiting, busy, skipped, none (unknown or settled)
    retry_in: float | None = None  # seconds before the task should run again


def import_jobs_in_flight(*, started_by: datetime, now: datetime) -> bool:
    return ProfileImportJob.objects.filter(
        started_at__lte=started_by, started_at__gte=now - IMPORT_JOB_HORIZON
    ).exists()


def _wait_seconds(erasure: ErasureRequest, now: datetime) -> float | None:
    """How long the request must still wait before its deletion job may go; None: not at all."""
    if erasure.hold_until and erasure.hold_until > now:
        return (erasure.hold_until - now).total_seconds()
    if erasure.deleted_profiles:
        # A job started after the erasure holds none of the deleted profiles; one started
        # before hold_until may (the profile's claim covered the time until it was listed).
        started_by = max(erasure.requested_at, erasure.hold_until or erasure.requested_at)
        if import_jobs_in_flight(started_by=started_by, now=now):
            return IMPORT_JOB_WAIT_SECONDS
    return None


def _claim(erasure_id: object, now: datetime) -> bool:
    hold = now + timedelta(seconds=settings.KLAVIYO_SEND_LEASE_SECONDS)
    return bool(
        ErasureRequest.objects.filter(id=erasure_id, status=ErasureStatus.PENDING)
        .filter(claimable(now))
        .update(attempts=F("attempts") + 1, next_attempt_at=hold)
    )


def _deletion_target(client: KlaviyoClient, erasure: ErasureRequest) -> tuple[str, str] | None:
    """(Klaviyo identifier, value) the job names; None when Klaviyo holds no such profile.
    Klaviyo erases by email, phone_number or its profile id only: an external id is looked up."""
    if erasure.identifier_kind != ErasureIdentifier.EXTERNAL_ID:
        return erasure.identifier_kind, erasure.identifier
    found = client.profile_get_by(field="external_id", value=erasure.identifier)
    return ("id", str(found["id"])) if found and found.get("id") else None


def erasure_send(*, erasure_id: object) -> ErasureOutcome:
    """Sends one erasure request to Klaviyo if it is due, and records the outcome."""
    erasure = ErasureRequest.objects.filter(id=erasure_id).first()
    if erasure is None or erasure.status != ErasureStatus.PENDING:
        return ErasureOutcome("none")
    rows = ErasureRequest.objects.filter(id=erasure_id, status=ErasureStatus.PENDING)
    now = timezone.now()
    client = klaviyo_client()
    if client is None:  # the sweeper tries again every SYNC_STALE_PENDING_SECONDS
        later = now + timedelta(seconds=settings.SYNC_STALE_PENDING_SECONDS)
        rows.update(last_error=NO_KEY_MESSAGE, next_attempt_at=later)
        return ErasureOutcome("skipped")
    wait = _wait_seconds(erasure, now)
    if wait is not None:
        rows.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)).update(
            next_attempt_at=now + timedelta(seconds=wait)
        )
        return ErasureOutcome("waiting", retry_in=wait)
    if not _claim(erasure_id, now):
        return ErasureOutcome("busy")
    attempts = erasure.attempts + 1
    note = ""
    try:
        target = _deletion_target(client, erasure)
        if target is None:
            note = NOTHING_IN_KLAVIYO
        else:
            client.profile_deletion_job(identifier=target[0], value=target[1], attempt=attempts)
    except KlaviyoError as error:
        if error.local:  # the client-side limiter: Klaviyo was not asked, no attempt spent
            delay = error.retry_after or 1.0
            rows.update(
                attempts=F("attempts") - 1,
                last_error=error.summary[:5000],
                next_attempt_at=timezone.now() + timedelta(seconds=delay),
            )
            return ErasureOutcome("retrying", retry_in=delay)
        if not error.retryable or attempts >= settings.KLAVIYO_MAX_ATTEMPTS:
            suffix = f" (gave up after {attempts} attempts)" if error.retryable else ""
            rows.update(
                status=ErasureStatus.FAILED,
                last_error=(error.summary + suffix)[:5000],
                next_attempt_at=None,
            )
            return ErasureOutcome("failed")
        delay = retry_delay(attempt=attempts, retry_after=error.retry_after)
        rows.update(
            last_error=error.summary[:5000],
            next_attempt_at=timezone.now() + timedelta(seconds=delay),
        )
        return ErasureOutcome("retrying", retry_in=delay)
    # Accepted: from now on the row keeps only the identifier's SHA-256.
    rows.update(
        status=ErasureStatus.SENT,
        identifier="",
        last_error=note,
        sent_at=timezone.now(),
        next_attempt_at=None,
    )
    return ErasureOutcome("sent")


def erasures_due(*, now: datetime, limit: int) -> list[str]:
    """Pending erasures whose task was lost (the broker was down when it was queued, a worker
    died): due for SWEEP_GRACE with no claim or retry ahead; stamped due now, so the next
    sweeps leave them alone while their task runs."""
    cutoff = now - SWEEP_GRACE
    ids = list(
        ErasureRequest.objects.filter(status=ErasureStatus.PENDING)
        .filter(
            Q(next_attempt_at__lte=cutoff)
            | Q(next_attempt_at__isnull=True, requested_at__lte=cutoff)
        )
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
    ErasureRequest.objects.filter(id__in=ids, status=ErasureStatus.PENDING).update(
        next_attempt_at=now
    )
    return [str(erasure_id) for erasure_id in ids]


def erasures_retry(*, erasure_ids: list[str]) -> list[str]:
    """Staff's "retry": failed erasures back to pending with a fresh attempt count."""
    rows = ErasureRequest.objects.filter(id__in=erasure_ids, status=ErasureStatus.FAILED)
    ids = [str(erasure_id) for erasure_id in rows.values_list("id", flat=True)]
    ErasureRequest.objects.filter(id__in=ids, status=ErasureStatus.FAILED).update(
        status=ErasureStatus.PENDING, attempts=0, last_error="", next_attempt_at=None
    )
    return ids


def import_job_listed(*, job_id: str) -> None:
    """A profile bulk import job Klaviyo accepted, listed until it ended (erasures wait)."""
    ProfileImportJob.objects.get_or_create(job_id=job_id)


def import_job_ended(*, job_id: str) -> None:
    ProfileImportJob.objects.filter(job_id=job_id).delete()


def import_jobs_forget(*, now: datetime) -> int:
    """Drops the listed jobs beyond IMPORT_JOB_HORIZON (their follower was lost)."""
    deleted, _ = ProfileImportJob.objects.filter(started_at__lt=now - IMPORT_JOB_HORIZON).delete()
    return deleted
