"""Writes of profiles as a resource of their own (POST /profiles): the upsert, the change it
made (kept for the sync: Klaviyo gets only what changed) and, on commit, the sync queued by the
ProfileChange post_save receiver (klaviyo_sync/receivers.py)."""

from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models.signals import post_save

from core.db import run_retrying
from events.models import Profile, ProfileChange
from events.services import profile_identity, profiles_upsert


@dataclass(frozen=True)
class ProfileUpsertResult:
    profile: Profile
    created: bool


def _changes_announce(changes: list[ProfileChange]) -> None:
    """post_save for rows bulk_create made, as save() sends it: one path to the sync."""
    for change in changes:
        post_save.send(
            sender=ProfileChange,
            instance=change,
            created=True,
            update_fields=None,
            raw=False,
            using=connection.alias,
        )


def profile_upsert(*, data: dict[str, Any]) -> ProfileUpsertResult:
    """Merges one validated profile into the local one (null removes a key), creating it when
    new, and records the change for Klaviyo; one transaction.

    New or not is what the row says once written: the upsert set created_at and updated_at to
    the same instant only if it inserted (an update keeps created_at). Concurrent posts of one
    new profile make one row, as for events (the unique identity decides, not a read).
    """
    email, attributes = data.get("email"), data.get("profile_attributes") or {}

    def store() -> Profile:
        with transaction.atomic():
            ids = profiles_upsert(changes=[(email, attributes)])
            profile_id = ids[profile_identity(email=email, profile_attributes=attributes)]
            change = ProfileChange(profile_id=profile_id, attributes=attributes)
            change.save(force_insert=True)
            return Profile.objects.get(id=profile_id)

    profile = run_retrying(store, what="Profile upsert")
    return ProfileUpsertResult(profile=profile, created=profile.created_at == profile.updated_at)
