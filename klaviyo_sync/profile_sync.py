"""Syncing one profile to Klaviyo (POST /api/profile-import), as staff ask from admin.

It sends the local merged view, and clears in Klaviyo what clients cleared here: a key some
event of the profile set to null and that the merged view no longer holds goes as null (a
standard attribute or location key) or in `meta.patch_properties.unset` (a custom property).

When Klaviyo answers `409 duplicate_profile` (the identifiers belong to two of its profiles),
the profile is updated by the `duplicate_profile_id` Klaviyo names, as Segment's Klaviyo
destination does (segmentio/action-destinations, packages/destination-actions/src/destinations/
klaviyo/upsertProfile/index.ts: on 409 it reads `errors[0].meta.duplicate_profile_id` and
PATCHes /profiles/{id}). The identifiers are left out of that update: one of them is what the
other Klaviyo profile holds, and taking it would be refused the same way. The row records the
Klaviyo id and, in last_error, that the identifiers are split in Klaviyo (staff can merge them
there).
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from events.merge_patch import json_patches_combine
from events.models import Event, Profile, ProfileChange, SyncStatus
from klaviyo_client import mapping, profiles
from klaviyo_client.client import KlaviyoClient, klaviyo_client
from klaviyo_client.errors import KlaviyoError
from klaviyo_sync.sending import PROFILE_FIELDS
from klaviyo_sync.services import NO_KEY_MESSAGE

logger = logging.getLogger(__name__)
DUPLICATE_PROFILE = "duplicate_profile"
KLAVIYO_IDENTIFIERS = ("email", "phone_number", "external_id")


def profile_sync_changes(*, profile_id: int, attributes: dict[str, Any]) -> dict[str, Any]:
    """The merged view plus a null for every key its events or its pending changes (POST
    /profiles) cleared that it no longer holds (nested objects as merge patches: a cleared
    location key inside `location`)."""
    cleared: dict[str, Any] = {}
    carried = Event.objects.filter(profile_id=profile_id).order_by("created_at")
    pending = ProfileChange.objects.filter(profile_id=profile_id).order_by("id")
    for patch in [
        *carried.values_list("profile_attributes", flat=True),
        *pending.values_list("attributes", flat=True),
    ]:
        if patch:
            cleared = json_patches_combine(cleared, patch)
    return json_patches_combine(cleared, attributes)


def duplicate_profile_id(error: KlaviyoError) -> str | None:
    """The profile Klaviyo names in a 409 duplicate_profile answer."""
    if error.status != 409:
        return None
    for item in error.errors:
        found = (item.get("meta") or {}).get("duplicate_profile_id")
        if item.get("code") == DUPLICATE_PROFILE and isinstance(found, str) and found:
            return found
    return None


def import_or_update_duplicate(
    client: KlaviyoClient, resource: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    """profile-import, or the update of the duplicate Klaviyo names; the answer and a note."""
    try:
        return client.profile_import(data=resource), ""
    except KlaviyoError as error:
        duplicate = duplicate_profile_id(error)
        if duplicate is None:
            raise
    attributes = {
        name: value
        for name, value in resource["attributes"].items()
        if name not in KLAVIYO_IDENTIFIERS
    }
    answer = client.profile_update(
        profile_id=duplicate, data={**resource, "attributes": attributes}
    )
    note = (
        f"Klaviyo 409 duplicate_profile: its profile {duplicate} holds one of these "
        "identifiers and another profile holds the rest; updated it by id, identifiers "
        "unchanged (merge the two profiles in Klaviyo)"
    )
    logger.warning("Profile sync: %s", note, extra={"klaviyo_profile_id": duplicate})
    return answer, note


def profile_sync(*, profile_id: int) -> Profile:
    """Creates or updates one profile in Klaviyo and records Klaviyo's profile id and the
    outcome on the row."""
    # The pending changes this send covers (read before the profile, whose whole view then
    # holds them): deleted once it is sent.
    last_covered = (
        ProfileChange.objects.filter(profile_id=profile_id)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    profile = Profile.objects.get(id=profile_id)
    client = klaviyo_client()
    if client is None:
        Profile.objects.filter(id=profile_id).update(
            sync_status=SyncStatus.SKIPPED, last_error=NO_KEY_MESSAGE
        )
        profile.refresh_from_db()
        return profile
    read_at = timezone.now()
    row = {name: getattr(profile, name) for name in PROFILE_FIELDS}
    changes: dict[str, Any]
    try:
        resource = profiles.profile_resource(
            profile_row=row,
            changes=profile_sync_changes(profile_id=profile_id, attributes=profile.attributes),
            in_event=False,
        )
        answer, note = import_or_update_duplicate(client, resource)
        changes = {
            "sync_status": SyncStatus.SENT,
            "last_error": note,
            "synced_at": timezone.now(),
            "klaviyo_id": answer.get("id") or profile.klaviyo_id,
            "attempts": 0,
            "next_attempt_at": None,
        }
        if last_covered is not None:
            ProfileChange.objects.filter(profile_id=profile_id, id__lte=last_covered).delete()
    except mapping.NotSendable as problem:
        changes = {"sync_status": SyncStatus.FAILED, "last_error": f"Not sent: {problem}"}
    except KlaviyoError as error:
        changes = {"sync_status": SyncStatus.FAILED, "last_error": error.summary[:5000]}
    if changes["sync_status"] == SyncStatus.SENT:
        # Changed meanwhile: the newer attributes still have to go, so only the id is kept.
        updated = Profile.objects.filter(id=profile_id, updated_at__lte=read_at).update(**changes)
        if not updated:
            Profile.objects.filter(id=profile_id).update(klaviyo_id=changes["klaviyo_id"])
    else:
        Profile.objects.filter(id=profile_id).update(**changes)
    profile.refresh_from_db()
    return profile
