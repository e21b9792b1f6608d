"""Writes of the events app: ingesting events and upserting their profiles."""

import functools
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connections, transaction
from django.db.models import F
from django.db.models.constants import OnConflict
from django.db.models.signals import post_save
from django.utils import timezone

from core.db import run_retrying
from events.models import Event, initial_sync_fields
from events.profile_services import profile_identity, profiles_upsert

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    event: Event
    created: bool  # False: the uniqueId matched an earlier event, which is returned instead


def _event_from(data: dict[str, Any], profile_id: int, now: datetime | None = None) -> Event:
    now = now or timezone.now()
    values = {
        **_event_defaults(),
        **initial_sync_fields(),
        "id": uuid.uuid4(),
        "event_name": data["event_name"],
        "email": data.get("email"),
        "profile_id": profile_id,
        "event_attributes": data.get("event_attributes") or {},
        "profile_attributes": data.get("profile_attributes") or {},
        "time": data.get("time") or now,
        "value": data.get("value"),
        "unique_id": data.get("unique_id"),
        "value_currency": data.get("value_currency"),
        "created_at": now,
    }
    # Positional, in the fields' order: Model.__init__ takes keywords field by field, at twice
    # the cost (the path Django's own from_db takes).
    return Event(*[values[name] for name in _event_fields()])


@functools.cache
def _event_defaults() -> dict[str, Any]:
    """What a new event holds in the columns EVENT_VARYING_FIELDS leaves out: the same for
    every event, so a field whose default is made per row (a callable) must be varying."""
    fields = {n: f for n, f in _event_fields().items() if n not in EVENT_VARYING_FIELDS}
    if made := [n for n, f in fields.items() if f.has_default() and callable(f.default)]:
        raise TypeError(f"{made} get a default made per event: add them to EVENT_VARYING_FIELDS")
    return {name: field.get_default() for name, field in fields.items()}


# What differs from one new event to the next; every other column starts the same.
EVENT_VARYING_FIELDS = (
    "id",
    "event_name",
    "email",
    "profile_id",
    "event_attributes",
    "profile_attributes",
    "time",
    "value",
    "unique_id",
    "value_currency",
    "created_at",
)


def _events_insert(*, events: list[Event], ignore_conflicts: bool) -> int:
    """INSERTs new events (built by `_event_from` for one batch) with one executemany; returns
    how many rows went in. With `ignore_conflicts` a row that repeats a stored event (profile,
    event name, unique_id) is skipped.

    Not bulk_create: it adapts each value through its field and compiles a placeholder per
    value, which was half the time of a 1,000-event request. Here the varying values are
    adapted directly, and the others (the same in every event) once per process.
    """
    if not events:
        return 0
    connection = transaction.get_connection()
    ops, meta = connection.ops, Event._meta
    first = events[0]
    # The batch's sync fields as `_event_from` set them (the same for every event of it).
    sync_fields = tuple((name, getattr(first, name)) for name in initial_sync_fields())
    constant_columns, constant_values = _event_constants(connection.alias, sync_fields)
    pk, encoder = meta.pk, _event_fields()["event_attributes"].encoder
    # created_at: the batch's first as the backend adapts it, the others by their offset from
    # it (a microsecond apart, see _in_order): adapting each costs a time zone conversion.
    first_created_text = ops.adapt_datetimefield_value(first.created_at)
    first_created = datetime.fromisoformat(first_created_text) if len(events) > 1 else None
    rows = [
        (
            pk.get_db_prep_value(event.id, connection),
            event.event_name,
            event.email,
            event.profile_id,
            ops.adapt_json_value(event.event_attributes, encoder),
            ops.adapt_json_value(event.profile_attributes, encoder),
            ops.adapt_datetimefield_value(event.time),
            event.value,
            event.unique_id,
            event.value_currency,
            str(first_created + (event.created_at - first.created_at))
            if first_created
            else first_created_text,
            *constant_values,
        )
        # In the unique index's order: concurrent batches take its locks in the same order.
        for event in sorted(events, key=_unique_index_order)
    ]
    sql = _events_insert_sql(connection.alias, ignore_conflicts, constant_columns)
    with connection.cursor() as cursor:
        if len(rows) == 1:  # MySQLdb's executemany first parses the statement to batch it
            cursor.execute(sql, rows[0])
        else:
            # MySQLdb sends this as multi-row INSERTs (only %s in VALUES: no literals, or it
            # sends one statement per row); sqlite3 steps one prepared statement.
            cursor.executemany(sql, rows)
        inserted = cursor.rowcount
    for event in events:  # as bulk_create leaves them: saved instances, not new ones
        event._state.adding, event._state.db = False, connection.alias
    return inserted


@functools.cache
def _event_fields() -> dict[str, Any]:
    """The event's concrete fields by attribute name (the model's, fixed once loaded)."""
    return {field.attname: field for field in Event._meta.concrete_fields}


@functools.cache
def _event_constants(
    alias: str, sync_fields: tuple[tuple[str, Any], ...]
) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """The columns every event `_event_from` builds holds the same values in (its defaults and
    initial sync fields), and those values as the database takes them; the NULL ones left out
    of the INSERT: fewer values for MySQLdb to escape, row by row."""
    connection = connections[alias]
    values = {**_event_defaults(), **dict(sync_fields)}
    fields = [
        field
        for name, field in _event_fields().items()
        if name in values and not (field.null and values[name] is None)
    ]
    return (
        tuple(field.column for field in fields),
        tuple(field.get_db_prep_save(values[field.attname], connection) for field in fields),
    )


@functools.cache
def _events_insert_sql(
    alias: str, ignore_conflicts: bool, constant_columns: tuple[str, ...]
) -> str:
    """The INSERT of `_events_insert`, its columns quoted once per shape, not per request."""
    ops, meta, fields = connections[alias].ops, Event._meta, _event_fields()
    columns = [fields[name].column for name in EVENT_VARYING_FIELDS] + list(constant_columns)
    insert = ops.insert_statement(on_conflict=OnConflict.IGNORE if ignore_conflicts else None)
    return (
        f"{insert} {ops.quote_name(meta.db_table)} ({', '.join(map(ops.quote_name, columns))}) "
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )


def _unique_index_order(event: Event) -> tuple[int, str, str]:
    return event.profile_id, event.event_name, event.unique_id or ""


def _events_announce(events: Iterable[Event]) -> None:
    """post_save for rows our INSERTs created, as save() sends it, inside the transaction:
    one path to the sync (and the metrics) for every new event, however it was stored."""
    using = transaction.get_connection().alias
    for event in events:
        post_save.send(
            sender=Event, instance=event, created=True, update_fields=None, raw=False, using=using
        )


def _identity_of(data: dict[str, Any]) -> str:
    return profile_identity(
        email=data.get("email"), profile_attributes=data.get("profile_attributes") or {}
    )


def _dedup_key(data: dict[str, Any]) -> tuple[str, str, str] | None:
    """What makes two events one, as Klaviyo has it: the same profile, metric and unique_id."""
    unique_id = data.get("unique_id")
    return (_identity_of(data), data["event_name"], unique_id) if unique_id else None


def _events_by_key(keys: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str, str], Event]:
    """Stored events with these (identity, event name, unique_id) keys."""
    keys = set(keys)
    if not keys:
        return {}
    # Found by unique_id alone (its index), the rest compared here: a filter on the event name
    # or identity too made SQLite walk another index.
    found = Event.objects.filter(unique_id__in={key[2] for key in keys}).annotate(
        identity=F("profile__identity")
    )
    by_key = {(event.identity, event.event_name, event.unique_id): event for event in found}
    return {key: event for key, event in by_key.items() if key in keys}


def event_ingest(*, data: dict[str, Any]) -> IngestResult:
    """Stores one validated event and upserts its profile, in one transaction.

    An event with the profile, event name and `unique_id` of a stored one is a repeat: the
    first event is returned and nothing changes. The unique index decides, so two concurrent
    posts of the same event make one row. Repeats are rare, so no read looks for an earlier
    event first: its INSERT is refused and the whole transaction, the profile upsert with it,
    rolls back.
    """
    key = _dedup_key(data)

    def store() -> Event:
        with transaction.atomic():
            ids = profiles_upsert(
                changes=[(data.get("email"), data.get("profile_attributes") or {})]
            )
            event = _event_from(data, ids[_identity_of(data)])
            # The bulk path's INSERT, not save(): a model save compiles its statement field by
            # field, a quarter of a single event's CPU. post_save goes out as save() sends it.
            _events_insert(events=[event], ignore_conflicts=False)
            _events_announce([event])
        return event

    try:
        event = run_retrying(store, what="Ingest")
    except IntegrityError:
        earlier = _events_by_key([key]).get(key) if key else None
        if earlier is None:
            raise
        return IngestResult(event=earlier, created=False)
    return IngestResult(event=event, created=True)


def events_ingest_bulk(*, items: list[dict[str, Any]]) -> list[IngestResult]:
    """Stores validated events with bulk statements, all or nothing; results in input order.

    An event whose profile, event name and `unique_id` match one earlier in the batch or
    stored by an earlier request makes no second row: that item's result is the first event.
    """
    identities = [_identity_of(item) for item in items]
    keys = [
        (identity, item["event_name"], item["unique_id"]) if item.get("unique_id") else None
        for identity, item in zip(identities, items, strict=True)
    ]
    earlier = _events_by_key(key for key in keys if key)
    fresh: dict[int, dict[str, Any]] = {}
    first_with_key: dict[tuple[str, str, str], int] = {}
    for index, (item, key) in enumerate(zip(items, keys, strict=True)):
        if key and (key in earlier or key in first_with_key):
            continue
        if key:
            first_with_key[key] = index
        fresh[index] = item
    now = timezone.now()

    def store() -> dict[int, Event]:
        with transaction.atomic():
            ids = profiles_upsert(
                changes=[
                    (i.get("email"), i.get("profile_attributes") or {}) for i in fresh.values()
                ]
            )
            built = {
                index: _event_from(item, ids[identities[index]], _in_order(now, index))
                for index, item in fresh.items()
            }
            # IGNORE is the guard against a concurrent request inserting the same event.
            inserted_count = _events_insert(
                events=list(built.values()), ignore_conflicts=bool(first_with_key)
            )
            if inserted_count < len(built):
                keyed = [event.id for event in built.values() if event.unique_id]
                inserted = set(Event.objects.filter(pk__in=keyed).values_list("pk", flat=True))
                ignored = {
                    index: keys[index]
                    for index, event in built.items()
                    if event.unique_id and event.id not in inserted
                }
                # Ignored: a concurrent request stored the same event first.
                earlier.update(_events_by_key(ignored.values()))
                for index in ignored:
                    del built[index]
            _events_announce(built.values())
        return built

    built = run_retrying(store, what="Ingest")
    results: list[IngestResult] = []
    for index, key in enumerate(keys):
        if index in built:
            results.append(IngestResult(event=built[index], created=True))
            continue
        assert key is not None  # only keyed items are left out
        first = earlier.get(key) or built[first_with_key[key]]
        results.append(IngestResult(event=first, created=False))
    return results


def _in_order(now: datetime, index: int) -> datetime:
    """The created_at of a batch's `index`-th event: a microsecond apart, so that the sync
    applies a profile's changes in the order the client sent them."""
    return now + timedelta(microseconds=index)
