"""Erasure of a person (DELETE /profiles/{email}, POST /profiles/erasures): in one transaction
their profiles here, the events and pending profile changes of those profiles, their addresses
in pending consent changes, and an erasure request that the worker sends to Klaviyo as a
data-privacy-deletion-job (klaviyo_sync/erasure_sync.py, queued on commit by the ErasureRequest
post_save receiver).

Ordering. No event, profile change or consent change of the person accepted before the erasure
may reach Klaviyo after the deletion job. Deleting the rows stops every later send (a task, a
Celery message, the sweeper finds nothing to claim), but a worker may already hold some of them:
it claimed them and has their payload in memory. Each claim is a lease a worker never sends past
(klaviyo_sync/lease.py: an event claim ends `KLAVIYO_SEND_LEASE_SECONDS` after
`last_attempt_at`; a profile's changes are held until its `next_attempt_at`, at most
SYNC_STALE_PENDING_SECONDS ahead; a consent change until its `next_attempt_at`,
KLAVIYO_SEND_LEASE_SECONDS after its claim). The rows are read with a lock, so no claim slips in
between the read and the delete, and the end of the latest lease among them becomes the
request's `hold_until`: the deletion job goes no sooner. Import jobs Klaviyo runs after
answering are waited for by the sender (events.ProfileImportJob).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.db import run_retrying
from events.consent_services import consent_changes_drop_pending
from events.models import (
    ConsentChange,
    ConsentChangeProfile,
    ConsentStatus,
    ErasureIdentifier,
    ErasureRequest,
    Event,
    Profile,
    ProfileChange,
    SyncStatus,
)

# The profile column each kind of identifier names a person by.
PROFILE_COLUMNS = {
    ErasureIdentifier.EMAIL: "email",
    ErasureIdentifier.PHONE_NUMBER: "phone_number",
    ErasureIdentifier.EXTERNAL_ID: "external_id",
}
DELETE_CHUNK = 1000  # event ids per DELETE


def identifier_sha256(value: str) -> str:
    """What an erasure keeps of the identifier once Klaviyo accepted it: the hex SHA-256 of
    its UTF-8 bytes, as given to the request (an email lower-cased)."""
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class PersonRows:
    profile_ids: list[int]
    addresses: list[tuple[str | None, str | None]]  # each profile's email and phone number
    event_ids: list[object]
    hold_until: datetime | None


def _person_rows_lock(kind: str, value: str, now: datetime) -> PersonRows:
    """The person's profiles and events, locked until the transaction ends, and the end of
    the latest send lease a worker holds on them (None when none is live)."""
    profiles = list(
        Profile.objects.select_for_update()
        .filter(**{PROFILE_COLUMNS[ErasureIdentifier(kind)]: value})
        .order_by("id")
        .values_list("id", "next_attempt_at", "email", "phone_number")
    )
    profile_ids = [profile_id for profile_id, _, _, _ in profiles]
    holds: list[datetime] = []
    # A profile's pending changes are claimed until next_attempt_at (a scheduled retry looks
    # the same: waiting for it too costs at most SYNC_STALE_PENDING_SECONDS).
    change_hold_limit = now + timedelta(seconds=settings.SYNC_STALE_PENDING_SECONDS)
    holds += [held for _, held, _, _ in profiles if held and now < held <= change_hold_limit]
    # One locking read per index (an OR of the two could scan, and lock, the whole table).
    lookups = [{"profile_id__in": profile_ids}] if profile_ids else []
    if kind == ErasureIdentifier.EMAIL:
        lookups.append({"email": value})
    found: dict[object, tuple[str, datetime | None]] = {}
    for lookup in lookups:
        rows = Event.objects.select_for_update().filter(**lookup).order_by()
        for event_id, status, claimed in rows.values_list("id", "sync_status", "last_attempt_at"):
            found[event_id] = (status, claimed)
    events = [(event_id, status, claimed) for event_id, (status, claimed) in found.items()]
    lease = timedelta(seconds=settings.KLAVIYO_SEND_LEASE_SECONDS)
    holds += [
        claimed + lease
        for _, status, claimed in events
        if status == SyncStatus.PENDING and claimed and claimed + lease > now
    ]
    return PersonRows(
        profile_ids=profile_ids,
        addresses=[(email, phone) for _, _, email, phone in profiles],
        event_ids=[event_id for event_id, _, _ in events],
        hold_until=max(holds, default=None),
    )


def _consent_changes_drop(
    kind: str, value: str, profiles: list[tuple[str | None, str | None]], now: datetime
) -> datetime | None:
    """Drops the person's addresses (the identifier, and the emails and phone numbers of their
    profiles here) from pending consent changes (issue 16: events.consent_services); returns
    the end of the latest claim a worker holds on those changes (it may have read the
    addresses already). Sent and failed changes stay, the record of what was asked."""
    emails = {email for email, _ in profiles if email}
    phones = {phone for _, phone in profiles if phone}
    if kind == ErasureIdentifier.EMAIL:
        emails.add(value)
    elif kind == ErasureIdentifier.PHONE_NUMBER:
        phones.add(value)
    pending = ConsentChangeProfile.objects.filter(change__status=ConsentStatus.PENDING)
    change_ids: set[int] = set()
    for lookup in [{"email__in": emails}, {"phone_number__in": phones}]:
        change_ids.update(pending.filter(**lookup).values_list("change_id", flat=True))
    if not change_ids:
        return None
    # Locked as a claim locks them (klaviyo_sync/consent_sync.py): no claim slips in between.
    held = ConsentChange.objects.select_for_update().filter(id__in=change_ids).order_by("id")
    lease_limit = now + timedelta(seconds=settings.KLAVIYO_SEND_LEASE_SECONDS)
    holds = [
        at
        for at in held.values_list("next_attempt_at", flat=True)
        if at and now < at <= lease_limit
    ]
    for email in sorted(emails):
        consent_changes_drop_pending(email=email)
    for phone in sorted(phones):
        consent_changes_drop_pending(email=None, phone_number=phone)
    return max(holds, default=None)


def profile_erase(*, kind: str, value: str) -> ErasureRequest:
    """Deletes the person's data here and records the erasure for Klaviyo, in one transaction.
    `value` is already validated and normalised (an email lower-cased, a phone in E.164)."""

    def erase() -> ErasureRequest:
        now = timezone.now()
        with transaction.atomic():
            rows = _person_rows_lock(kind, value, now)
            for start in range(0, len(rows.event_ids), DELETE_CHUNK):
                chunk = rows.event_ids[start : start + DELETE_CHUNK]
                Event.objects.filter(id__in=chunk).delete()
            ProfileChange.objects.filter(profile_id__in=rows.profile_ids).delete()
            consent_hold = _consent_changes_drop(kind, value, rows.addresses, now)
            hold_until = max(
                (at for at in (rows.hold_until, consent_hold) if at is not None), default=None
            )
            Profile.objects.filter(id__in=rows.profile_ids).delete()
            erasure = ErasureRequest(
                identifier_kind=kind,
                identifier=value,
                identifier_sha256=identifier_sha256(value),
                deleted_profiles=len(rows.profile_ids),
                deleted_events=len(rows.event_ids),
                hold_until=hold_until,
                next_attempt_at=hold_until,
                requested_at=now,
            )
            erasure.save(force_insert=True)  # post_save queues its sending, on commit
            return erasure

    return run_retrying(erase, what="Profile erasure")
