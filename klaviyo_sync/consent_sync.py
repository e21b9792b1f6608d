"""Sending one consent change to Klaviyo: claimed (in order per address: consent_order.py),
its unsent addresses sent in requests of its kind's size (consent_senders.py), each accepted
request written at once (the addresses' sent_at, Klaviyo's job id), the outcome recorded on the
change. A request that could not end within the claim's lease is not started: the addresses
not yet sent go under a new claim (_lease_over). Retried on 429, 5xx and timeouts with the
events' backoff (services.retry_delay) up to KLAVIYO_MAX_ATTEMPTS; failed with Klaviyo's
detail otherwise. Once a change is done (sent or failed), the later pending changes sharing an
address are queued: they may go now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from events.models import NO_KEY_MESSAGE, ConsentChange, ConsentChangeProfile, ConsentStatus
from klaviyo_client import mapping
from klaviyo_client.client import klaviyo_client
from klaviyo_client.errors import KlaviyoError
from klaviyo_sync.consent_order import earlier_pending_exists, later_changes
from klaviyo_sync.consent_senders import CONSENT_SENDERS
from klaviyo_sync.lease import LeaseOver, SendClock, claimable
from klaviyo_sync.services import retry_delay

ADDRESS_FIELDS = ("id", "email", "phone_number", "consented_at", "klaviyo_id", "profile_id")
# Later changes queued at once when one is done; the sweeper finds any others.
MAX_FOLLOWERS = 1000


@dataclass(frozen=True)
class ConsentOutcome:
    # sent, failed, retrying, blocked (an earlier change for an address is pending), busy
    # (another worker holds it, or its retry is not due), waiting (no Klaviyo key), none
    status: str
    retry_in: float | None = None  # seconds before the task should run again
    followers: list[int] = field(default_factory=list)  # later changes that may go now


def _claim(change_id: int, now: datetime) -> str:
    """claimed, busy or blocked; a claim counts an attempt and holds the change for a lease."""
    with transaction.atomic():
        due = claimable(now)
        locked = (
            ConsentChange.objects.select_for_update()
            .filter(due, id=change_id, status=ConsentStatus.PENDING)
            .values_list("id", flat=True)
            .first()
        )
        if locked is None:
            return "busy"
        if earlier_pending_exists(change_id):
            return "blocked"
        hold = now + timedelta(seconds=settings.KLAVIYO_SEND_LEASE_SECONDS)
        # The lock decides; the update says it again (a backend whose FOR UPDATE is a no-op
        # still gives the change to one worker: the first update moves it out of `due`).
        claimed = ConsentChange.objects.filter(due, id=change_id, status=ConsentStatus.PENDING)
        if not claimed.update(attempts=F("attempts") + 1, next_attempt_at=hold):
            return "busy"
    return "claimed"


def _followers(change_id: int) -> list[int]:
    later = later_changes(change_id, status=ConsentStatus.PENDING)
    return list(later.values_list("id", flat=True)[:MAX_FOLLOWERS])


def _finish(change_id: int, status: str, **fields: object) -> ConsentOutcome:
    ConsentChange.objects.filter(id=change_id).update(status=status, next_attempt_at=None, **fields)
    return ConsentOutcome(status, followers=_followers(change_id))


def consent_change_sync(*, change_id: int) -> ConsentOutcome:
    """Sends the change's unsent addresses to Klaviyo and records the outcome on the row."""
    client = klaviyo_client()
    now = timezone.now()
    if client is None:
        # Kept pending, not skipped: consent must reach Klaviyo once a key is configured (the
        # sweeper queues it again SYNC_STALE_PENDING_SECONDS after this mark).
        ConsentChange.objects.filter(id=change_id, status=ConsentStatus.PENDING).update(
            last_error=NO_KEY_MESSAGE, next_attempt_at=now
        )
        return ConsentOutcome("waiting")
    claim = _claim(change_id, now)
    if claim != "claimed":
        return ConsentOutcome(claim)
    change = ConsentChange.objects.filter(id=change_id).first()
    if change is None:  # its only address erased meanwhile (consent_changes_drop_pending)
        return ConsentOutcome("none")
    sender = CONSENT_SENDERS.get(change.kind)
    if sender is None:
        return _finish(
            change_id, ConsentStatus.FAILED, last_error=f"Not sent: no sender for {change.kind}"
        )
    unsent = list(
        ConsentChangeProfile.objects.filter(change_id=change_id, sent_at__isnull=True)
        .order_by("id")
        .values(*ADDRESS_FIELDS)
    )
    clock = SendClock(
        lease_seconds=settings.KLAVIYO_SEND_LEASE_SECONDS,
        connect_timeout=settings.KLAVIYO_CONNECT_TIMEOUT,
        read_timeout=settings.KLAVIYO_READ_TIMEOUT,
        rate_limit_max_wait=settings.KLAVIYO_RATE_LIMIT_MAX_WAIT,
    )
    # Every request of the change, a list change's lookups and job polls too, starts only if
    # it ends within the lease: after it, an erasure's deletion job may go (hold_until).
    clock.guard(client)
    job_ids = list(change.klaviyo_job_ids or [])
    for start in range(0, len(unsent), sender.per_request):
        chunk = unsent[start : start + sender.per_request]
        try:
            job_id = sender.send(client, change, chunk, change.attempts)
        except LeaseOver:
            return _lease_over(change, clock, progressed=start > 0)
        except mapping.NotSendable as problem:
            return _finish(change_id, ConsentStatus.FAILED, last_error=f"Not sent: {problem}")
        except KlaviyoError as error:
            return _failed_request(change, error)
        if job_id and job_id not in job_ids:  # a list_add records its job when accepted
            job_ids.append(job_id)
        ConsentChangeProfile.objects.filter(id__in=[row["id"] for row in chunk]).update(
            sent_at=timezone.now()
        )
        ConsentChange.objects.filter(id=change_id).update(klaviyo_job_ids=job_ids)
    return _finish(change_id, ConsentStatus.SENT, sent_at=timezone.now())


def _lease_over(change: ConsentChange, clock: SendClock, *, progressed: bool) -> ConsentOutcome:
    """The lease ended before a request could: the rest under a new claim. At once and with
    its attempt given back after a request of this claim was sent in full (`progressed`);
    else the attempt spent (a claim that keeps stopping short is given up at last, not claimed
    again without end), at once after some requests went (a list change's lookups: found ids
    are kept), with backoff when not one went (Klaviyo too slow for one within a lease)."""
    if progressed:
        return _attempt_given_back(change, delay=0.0)
    delay = retry_delay(attempt=change.attempts) if not clock.requests_started else 0.0
    return _retried_or_failed(change, "Stopped short by the end of its send lease", delay)


def _failed_request(change: ConsentChange, error: KlaviyoError) -> ConsentOutcome:
    """A request Klaviyo (or the way to it) failed: retried later when that may succeed (the
    change stays pending, holding the later ones), else failed with Klaviyo's detail."""
    if error.local:  # the client-side limiter: nothing was sent, no attempt spent
        return _attempt_given_back(change, delay=error.retry_after or 1.0)
    if not error.retryable:
        return _finish(change.id, ConsentStatus.FAILED, last_error=error.summary[:5000])
    delay = retry_delay(attempt=change.attempts, retry_after=error.retry_after)
    return _retried_or_failed(change, error.summary, delay)


def _attempt_given_back(change: ConsentChange, *, delay: float) -> ConsentOutcome:
    """Claimed again `delay` seconds from now, the claim's attempt not counted."""
    ConsentChange.objects.filter(id=change.id).update(
        attempts=F("attempts") - 1, next_attempt_at=timezone.now() + timedelta(seconds=delay)
    )
    return ConsentOutcome("retrying", retry_in=delay)


def _retried_or_failed(change: ConsentChange, why: str, delay: float) -> ConsentOutcome:
    """Retried `delay` seconds from now with `why` on the change, or failed with it once
    KLAVIYO_MAX_ATTEMPTS are spent."""
    if change.attempts >= settings.KLAVIYO_MAX_ATTEMPTS:
        why = f"{why} (gave up after {change.attempts} attempts)"
        return _finish(change.id, ConsentStatus.FAILED, last_error=why[:5000])
    ConsentChange.objects.filter(id=change.id).update(
        last_error=why[:5000], next_attempt_at=timezone.now() + timedelta(seconds=delay)
    )
    return ConsentOutcome("retrying", retry_in=delay)


def consent_changes_stale(*, now: datetime, older_than: timedelta, limit: int) -> list[int]:
    """Pending changes nobody has queued for `older_than` (a task lost while the broker was
    down, a crashed worker, a change that waited behind an earlier one), oldest first; stamped
    as queued now, so that the next sweeps leave them alone for `older_than` again."""
    cutoff = now - older_than
    ids = list(
        ConsentChange.objects.filter(status=ConsentStatus.PENDING)
        .filter(
            Q(next_attempt_at__lt=cutoff) | Q(next_attempt_at__isnull=True, created_at__lt=cutoff)
        )
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    ConsentChange.objects.filter(id__in=ids).update(next_attempt_at=now)
    return ids
