"""Writes of profiles: the upsert every write of a profile goes through (events' too), and
profiles as a resource of their own (POST /profiles): the upsert, the change it made (kept for
the sync: Klaviyo gets only what changed) and, on commit, the sync queued by the ProfileChange
post_save receiver (klaviyo_sync/receivers.py)."""

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models.signals import post_save
from django.utils import timezone

from core.db import run_retrying
from events.merge_patch import holds_null, json_patches_combine, replaces
from events.models import Profile, ProfileChange, initial_sync_fields


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


# The identifier columns set from profile attributes, and the prefix of the identity they key
# (a profile known by it alone). A null clears one: never that of a profile known by it, as
# the identity comes from the same attributes (a null can't name it).
IDENTIFIER_COLUMNS = (
    ("phoneNumber", "phone_number", "phone:"),
    ("externalId", "external_id", "external:"),
)


def profile_identity(*, email: str | None, profile_attributes: dict[str, Any]) -> str:
    """The upsert key of a profile: its email, else its phone number, else its external id, else
    its anonymous id (a visitor not yet known: Segment's and RudderStack's `anonymous_id`)."""
    if email:
        return email
    for key, _, prefix in IDENTIFIER_COLUMNS:
        if value := profile_attributes.get(key):
            return f"{prefix}{value}"
    return f"anonymous:{profile_attributes['anonymousId']}"


def profiles_upsert(*, changes: Iterable[tuple[str | None, dict[str, Any]]]) -> dict[str, int]:
    """Creates or updates the profiles of (email, profile attributes) pairs in one statement
    (one more per round, below); new attributes merge over the stored ones, in order. Returns
    profile ids by identity.

    One INSERT ... ON DUPLICATE KEY / ON CONFLICT, so concurrent requests for the same new
    profile all succeed: the database, not a prior read, decides insert or update. The id of
    a single profile comes back with the statement; those of several need one SELECT.
    """
    # An identity's patches folded into one, but where a later one replaces what an earlier
    # removed (merge_patch.replaces): then in a round of its own, applied after.
    rounds: list[dict[str, dict[str, Any]]] = [{}]
    depth: dict[str, int] = {}
    for email, attributes in changes:
        identity = profile_identity(email=email, profile_attributes=attributes)
        at = depth.setdefault(identity, 0)
        row = rounds[at].setdefault(identity, {"email": email, "attributes": {}})
        combined = json_patches_combine(row["attributes"], attributes)
        if row["attributes"] and replaces(combined):
            at = depth[identity] = at + 1
            rounds += [{}] if at == len(rounds) else []
            row = rounds[at][identity] = {"email": email, "attributes": {}}
            combined = json_patches_combine({}, attributes)
        row["attributes"] = combined
        for key, column, _ in IDENTIFIER_COLUMNS:
            if key in attributes:  # a string, or null: the column cleared (after the upsert)
                row[column] = attributes[key]
    if not depth:
        return {}
    ids = {}
    for rows in rounds:
        ids = _profiles_upsert_round(rows)
    return ids if len(rounds) == 1 else _profile_ids(identities=list(depth))


def _profiles_upsert_round(rows: dict[str, dict[str, Any]]) -> dict[str, int]:
    now = timezone.now()
    fields = initial_sync_fields()
    params: list[Any] = []
    # Sorted, so that concurrent multi-row upserts lock rows in the same order (no deadlock).
    for identity in sorted(rows):
        row = rows[identity]
        params += [
            identity,
            row["email"],
            row.get("phone_number"),
            row.get("external_id"),
            _json(row["attributes"]),
            fields["sync_status"],
            fields["last_error"],
            now,
            now,
            now,
        ]
    connection = transaction.get_connection()
    single = len(rows) == 1
    upsert, returns_id = _upsert_sql(connection.vendor, len(rows))
    table, merge = Profile._meta.db_table, _JSON_MERGE[connection.vendor]
    with connection.cursor() as cursor:
        cursor.execute(upsert, params)
        if single:
            ids = {next(iter(rows)): cursor.fetchone()[0] if returns_id else cursor.lastrowid}
        # A new row took the patch as it came, nulls and all: merged into {}, they go.
        if with_nulls := sorted(i for i, row in rows.items() if holds_null(row["attributes"])):
            cursor.execute(
                f"UPDATE {table} SET attributes = {merge}('{{}}', attributes) "
                f"WHERE identity IN ({', '.join(['%s'] * len(with_nulls))})",
                with_nulls,
            )
        # A phone number or external id set to null is removed (the upsert kept it: COALESCE);
        # Klaviyo is told too (klaviyo_client.profiles).
        for _, column, _ in IDENTIFIER_COLUMNS:
            cleared = sorted(i for i, row in rows.items() if column in row and row[column] is None)
            if cleared:
                cursor.execute(
                    f"UPDATE {table} SET {column} = NULL "
                    f"WHERE identity IN ({', '.join(['%s'] * len(cleared))})",
                    cleared,
                )
    return ids if single else _profile_ids(identities=list(rows))


_JSON_MERGE = {"mysql": "JSON_MERGE_PATCH", "sqlite": "json_patch"}


@functools.lru_cache(maxsize=64)
def _upsert_sql(vendor: str, count: int) -> tuple[str, bool]:
    """The upsert of `count` profiles (its text built once per shape, not per request), and
    whether it returns the id of a single row (else the driver's lastrowid has it)."""
    table = Profile._meta.db_table
    # Due at once is an instant, not NULL (Profile.next_attempt_at: why): a new row's creation,
    # and where a sync ended (NULL) its change's arrival; a claim or retry held stays.
    columns = (
        "identity, email, phone_number, external_id, attributes, sync_status, last_error, "
        "created_at, updated_at, next_attempt_at"
    )
    placeholders = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * count)
    single = count == 1
    returning = ""
    if vendor == "mysql":
        conflict = (
            "ON DUPLICATE KEY UPDATE "
            # MySQL's idiom for the id of the row an upsert updated: the statement sets
            # LAST_INSERT_ID, which the client gets back as the insert id, as for a new row.
            # https://dev.mysql.com/doc/refman/8.4/en/insert-on-duplicate.html
            + ("id = LAST_INSERT_ID(id), " if single else "")
            + "attributes = JSON_MERGE_PATCH(attributes, VALUES(attributes)), "
            "email = COALESCE(VALUES(email), email), "
            "phone_number = COALESCE(VALUES(phone_number), phone_number), "
            "external_id = COALESCE(VALUES(external_id), external_id), "
            "sync_status = VALUES(sync_status), updated_at = VALUES(updated_at), "
            "next_attempt_at = COALESCE(next_attempt_at, VALUES(next_attempt_at))"
        )
    elif vendor == "sqlite":
        conflict = (
            "ON CONFLICT(identity) DO UPDATE SET "
            f"attributes = json_patch({table}.attributes, excluded.attributes), "
            f"email = COALESCE(excluded.email, {table}.email), "
            f"phone_number = COALESCE(excluded.phone_number, {table}.phone_number), "
            f"external_id = COALESCE(excluded.external_id, {table}.external_id), "
            "sync_status = excluded.sync_status, updated_at = excluded.updated_at, "
            f"next_attempt_at = COALESCE({table}.next_attempt_at, excluded.next_attempt_at)"
        )
        # SQLite returns the row inserted or updated (3.35+, the oldest Django 5.2 supports).
        returning = " RETURNING id" if single else ""
    else:  # pragma: no cover - settings only admit these two
        raise NotImplementedError(f"profile upsert is not written for {vendor}")
    return (
        f"INSERT INTO {table} ({columns}) VALUES {placeholders} {conflict}{returning}",
        bool(returning),
    )


def _profile_ids(*, identities: list[str]) -> dict[str, int]:
    # Identities compare exactly on every backend (migration 0003), as Python compares them.
    return dict(Profile.objects.filter(identity__in=identities).values_list("identity", "id"))


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
