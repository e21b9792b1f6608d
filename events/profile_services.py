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


# Rows per upsert statement: 10 parameters a row stays under SQLite's 32,766 and keeps each
# statement a few hundred KB on MySQL.
UPSERT_CHUNK = 1000


def profiles_upsert_bulk(*, items: list[dict[str, Any]]) -> list[tuple[int, str | None]]:
    """Upserts validated profiles with bulk statements, all or nothing, and records each item's
    change for Klaviyo; (id, email) per item, in input order.

    The items are upserted sorted by identity (stable: a profile named twice merges its items in
    the order sent), so concurrent bulks lock rows in one order and don't deadlock.
    """
    keyed = [
        (
            profile_identity(email=item.get("email"), profile_attributes=attrs),
            item.get("email"),
            attrs,
        )
        for item in items
        for attrs in [item.get("profile_attributes") or {}]
    ]
    ordered = sorted(keyed, key=lambda row: row[0])

    def store() -> dict[str, int]:
        with transaction.atomic():
            ids: dict[str, int] = {}
            for start in range(0, len(ordered), UPSERT_CHUNK):
                chunk = ordered[start : start + UPSERT_CHUNK]
                ids.update(profiles_upsert(changes=[(email, attrs) for _, email, attrs in chunk]))
            changes = [
                ProfileChange(profile_id=ids[identity], attributes=attrs)
                for identity, _, attrs in keyed
            ]
            ProfileChange.objects.bulk_create(changes, batch_size=UPSERT_CHUNK)
            _changes_announce(changes)
            return ids

    ids = run_retrying(store, what="Profile bulk upsert")
    return [(ids[identity], email) for identity, email, _ in keyed]
