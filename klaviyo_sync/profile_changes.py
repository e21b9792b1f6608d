"""Sending Klaviyo what POST /profiles changed: a profile's pending ProfileChanges merged in the
order they were stored (null clears, as for events: a standard attribute as null, a custom
property in meta.patch_properties.unset), through profile-import, and only them, so an edit
made in Klaviyo meanwhile to another attribute is not overwritten. A 409 duplicate_profile is
resolved as the admin's profile sync resolves it (profile_sync.import_or_update_duplicate).

One worker at a time per profile: the sync claims the profile (attempts + 1, next_attempt_at =
now + a hold) only when no other claim or scheduled retry is due later than
lease.CLAIM_TOLERANCE from now. Failures are recorded on the profile and retried with the
events' backoff (services.retry_delay) up to KLAVIYO_MAX_ATTEMPTS; the sweeper queues profiles
whose task was lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from events.merge_patch import json_patches_combine
from events.models import NO_KEY_MESSAGE, Profile, ProfileChange, SyncStatus
from klaviyo_client import mapping, profiles
from klaviyo_client.client import klaviyo_client
from klaviyo_client.errors import KlaviyoError
from klaviyo_sync.lease import claimable
from klaviyo_sync.profile_sync import import_or_update_duplicate
from klaviyo_sync.sending import PROFILE_FIELDS
from klaviyo_sync.services import retry_delay


@dataclass(frozen=True)
class ProfileChangesOutcome:
    status: str  # sent, failed, retrying, skipped, busy (another worker or a retry holds it), none
    retry_in: float | None = None  # seconds before the task should run again


def _claim(profile_id: int, now: datetime) -> bool:
    hold = now + timedelta(seconds=settings.SYNC_STALE_PENDING_SECONDS)
    return bool(
        Profile.objects.filter(id=profile_id)
        .filter(claimable(now))
        .update(attempts=F("attempts") + 1, next_attempt_at=hold)
    )


def profile_changes_sync(*, profile_id: int) -> ProfileChangesOutcome:
    """Sends the profile's pending changes to Klaviyo and records the outcome on the row."""
    changes = list(
        ProfileChange.objects.filter(profile_id=profile_id)
        .order_by("id")
        .values_list("id", "attributes")
    )
    if not changes:
        return ProfileChangesOutcome("none")
    client = klaviyo_client()
    if client is None:
        Profile.objects.filter(id=profile_id, sync_status=SyncStatus.PENDING).update(
            sync_status=SyncStatus.SKIPPED, last_error=NO_KEY_MESSAGE
        )
        return ProfileChangesOutcome("skipped")
    now = timezone.now()
    if not _claim(profile_id, now):
        return ProfileChangesOutcome("busy")
    profile = Profile.objects.filter(id=profile_id).values(*PROFILE_FIELDS, "attempts").first()
    if profile is None:  # erased meanwhile
        return ProfileChangesOutcome("none")
    combined: dict[str, Any] = {}
    for _, patch in changes:
        combined = json_patches_combine(combined, patch)
    rows = Profile.objects.filter(id=profile_id)
    try:
        resource = profiles.profile_resource(profile_row=profile, changes=combined, in_event=False)
        answer, note = import_or_update_duplicate(client, resource)
    except mapping.NotSendable as problem:
        rows.update(
            sync_status=SyncStatus.FAILED, last_error=f"Not sent: {problem}", next_attempt_at=None
        )
        return ProfileChangesOutcome("failed")
    except KlaviyoError as error:
        attempts = profile["attempts"]
        if not error.retryable or attempts >= settings.KLAVIYO_MAX_ATTEMPTS:
            suffix = f" (gave up after {attempts} attempts)" if error.retryable else ""
            rows.update(
                sync_status=SyncStatus.FAILED,
                last_error=(error.summary + suffix)[:5000],
                next_attempt_at=None,
            )
            return ProfileChangesOutcome("failed")
        delay = retry_delay(attempt=attempts, retry_after=error.retry_after)
        rows.update(
            last_error=error.summary[:5000],
            next_attempt_at=timezone.now() + timedelta(seconds=delay),
        )
        return ProfileChangesOutcome("retrying", retry_in=delay)
    ProfileChange.objects.filter(profile_id=profile_id, id__lte=changes[-1][0]).delete()
    newer = ProfileChange.objects.filter(profile_id=profile_id).exists()
    rows.update(
        klaviyo_id=answer.get("id") or F("klaviyo_id"),
        last_error=note,
        attempts=0,
        next_attempt_at=None,
        **({} if newer else {"sync_status": SyncStatus.SENT, "synced_at": timezone.now()}),
    )
    return ProfileChangesOutcome("sent", retry_in=0.0 if newer else None)


def profiles_with_stale_changes(*, now: datetime, older_than: timedelta, limit: int) -> list[int]:
    """Pending profiles whose changes wait longer than `older_than` with no claim or retry due
    (a task lost while the broker was down, a crashed worker); stamped as queued now, so the
    next sweeps leave them alone for `older_than` again."""
    cutoff = now - older_than
    waiting = ProfileChange.objects.filter(profile_id=OuterRef("pk"), created_at__lt=cutoff)
    ids = list(
        Profile.objects.filter(sync_status=SyncStatus.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=cutoff))
        .filter(Exists(waiting))
        .order_by()
        .values_list("id", flat=True)[:limit]
    )
    Profile.objects.filter(id__in=ids).update(next_attempt_at=now)
    return ids
