"""Migrations 0003 (exact text keys), 0004 (uniqueId per profile and metric), 0005 (failure
reasons) and 0006 (when the sweeper takes a pending event): what they do to the columns and the
rows, and that they reverse."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from events.models import Event, Profile

EXACT_COLUMNS = {
    "events_event": {"unique_id", "event_name", "email"},
    "events_metric": {"name"},
    "events_profile": {"identity", "email", "external_id"},
}
BEFORE, AFTER = ("events", "0002_event_next_attempt_at"), ("events", "0003_exact_text_keys")
PER_PROFILE = ("events", "0004_unique_id_per_profile_and_metric")
REQUEUE_AT = ("events", "0006_event_requeue_at")


def migrate_to(target: tuple[str, str]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])


def migrate_to_latest() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes("events"))


def models_at(target: tuple[str, str]):
    """The app registry as of a migration: models with that migration's columns."""
    return MigrationExecutor(connection).loader.project_state(target).apps


def columns() -> dict[tuple[str, str], tuple[str, ...]]:
    """(table, column) -> its definition, for every text column of the events app: collation,
    type and NULL-ability on MySQL; SQLite has no per-column collation here, so the tables' SQL."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name, '', sql FROM sqlite_master WHERE tbl_name LIKE 'events\\_%' "
                "ESCAPE '\\'"
            )
        else:
            cursor.execute(
                "SELECT table_name, column_name, collation_name, column_type, is_nullable "
                "FROM information_schema.columns WHERE table_schema = DATABASE() "
                "AND table_name LIKE 'events\\_%%' AND collation_name IS NOT NULL"
            )
        return {(row[0], row[1]): tuple(row[2:]) for row in cursor.fetchall()}


def table_collation(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_collation FROM information_schema.tables "
            "WHERE table_schema = DATABASE() AND table_name = %s",
            [table],
        )
        return cursor.fetchone()[0]


@pytest.fixture
def back_at_the_end(transactional_db) -> Iterator[None]:
    """DDL commits on MariaDB: whatever a test migrated to, the schema ends up current."""
    yield
    migrate_to_latest()


def test_it_makes_the_key_columns_binary_and_reverses_to_the_table_default(back_at_the_end):
    migrate_to(AFTER)
    after = columns()
    migrate_to(BEFORE)
    before = columns()
    migrate_to(AFTER)

    assert columns() == after
    if connection.vendor == "sqlite":
        assert before == after  # SQLite compares bytes already: nothing to change
        return
    for (table, column), (collation, kind, null) in after.items():
        was_collation, was_kind, was_null = before[(table, column)]
        assert (was_kind, was_null) == (kind, null), f"{table}.{column} changed type or NULL"
        if column in EXACT_COLUMNS.get(table, ()):
            assert collation in {"utf8mb4_nopad_bin", "utf8mb4_0900_bin", "utf8mb4_bin"}
            assert was_collation == table_collation(table)
        else:
            assert collation == was_collation, f"{table}.{column} should be left alone"
    assert {column for (table, column) in after} >= {"unique_id", "identity", "name"}


def test_it_migrates_back_and_forth_with_rows_in_place(back_at_the_end):
    profile = Profile.objects.create(identity="external:ABC", external_id="ABC", attributes={})
    Event.objects.create(event_name="Purchase", profile=profile, unique_id="K1")

    migrate_to(BEFORE)
    migrate_to_latest()

    Event.objects.create(event_name="Purchase", profile=profile, unique_id="k1")
    assert sorted(Event.objects.values_list("unique_id", flat=True)) == ["K1", "k1"]
    assert Profile.objects.get().identity == "external:ABC"


def test_the_unique_id_index_moves_to_profile_and_metric_keeping_every_row(back_at_the_end):
    migrate_to(AFTER)
    old = models_at(AFTER)
    OldProfile, OldEvent = old.get_model("events", "Profile"), old.get_model("events", "Event")
    ann = OldProfile.objects.create(identity="ann@example.com", email="ann@example.com")
    bob = OldProfile.objects.create(identity="bob@example.com", email="bob@example.com")
    OldEvent.objects.create(event_name="Placed Order", profile=ann, unique_id="order-1")
    OldEvent.objects.create(event_name="Placed Order", profile=bob, unique_id="order-2")
    OldEvent.objects.create(event_name="Page View", profile=bob, unique_id=None)
    OldEvent.objects.create(event_name="Page View", profile=bob, unique_id=None)
    before = sorted(OldEvent.objects.values_list("id", "event_name", "profile_id", "unique_id"))

    migrate_to(PER_PROFILE)
    Event = models_at(PER_PROFILE).get_model("events", "Event")
    after = sorted(Event.objects.values_list("id", "event_name", "profile_id", "unique_id"))
    assert after == before
    # The same order id: another metric, another profile are new events; a repeat is refused.
    Event.objects.create(event_name="Fulfilled Order", profile_id=ann.id, unique_id="order-1")
    Event.objects.create(event_name="Placed Order", profile_id=bob.id, unique_id="order-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Event.objects.create(event_name="Placed Order", profile_id=ann.id, unique_id="order-1")
    assert Event.objects.filter(unique_id="order-1").count() == 3
    # MySQL: the key column kept the exact collation of 0003 (no MODIFY back to the default).
    if connection.vendor == "mysql":
        collation = columns()[("events_event", "unique_id")][0]
        assert collation in {"utf8mb4_nopad_bin", "utf8mb4_0900_bin", "utf8mb4_bin"}


def test_it_reverses_while_no_two_events_share_a_unique_id(back_at_the_end):
    profile = Profile.objects.create(identity="ann@example.com", email="ann@example.com")
    Event.objects.create(event_name="Placed Order", profile=profile, unique_id="order-1")
    Event.objects.create(event_name="Page View", profile=profile, unique_id=None)

    migrate_to(AFTER)
    migrate_to_latest()

    assert sorted(Event.objects.values_list("event_name", "unique_id")) == [
        ("Page View", None),
        ("Placed Order", "order-1"),
    ]


FAILURE_REASON = ("events", "0005_event_failure_reason")


def test_failed_and_skipped_events_get_their_failure_reason(back_at_the_end):
    migrate_to(PER_PROFILE)
    old = models_at(PER_PROFILE)
    OldProfile, OldEvent = old.get_model("events", "Profile"), old.get_model("events", "Event")
    ann = OldProfile.objects.create(identity="ann@example.com", email="ann@example.com")
    texts = {
        "failed": "HTTP 400: 'ann@example.com' is not a valid email (/data/7/attributes)",
        "skipped": "Not sent: KLAVIYO_API_KEY is not configured",
        "pending": "HTTP 503: retrying",
    }
    ids = {
        status: OldEvent.objects.create(
            event_name="Placed Order", profile=ann, sync_status=status, last_error=text
        ).id
        for status, text in texts.items()
    }

    migrate_to(FAILURE_REASON)

    reasons = dict(Event.objects.filter(id__in=ids.values()).values_list("id", "failure_reason"))
    assert reasons == {
        ids["failed"]: "HTTP 400: '…' is not a valid email (/data/N/attributes)",
        ids["skipped"]: "Not sent: KLAVIYO_API_KEY is not configured",
        ids["pending"]: "",
    }


def test_pending_events_with_a_time_become_due_for_the_sweeper_then(back_at_the_end):
    migrate_to(FAILURE_REASON)
    old = models_at(FAILURE_REASON)
    OldProfile, OldEvent = old.get_model("events", "Profile"), old.get_model("events", "Event")
    ann = OldProfile.objects.create(identity="ann@example.com", email="ann@example.com")
    moment = timezone.now() + timedelta(minutes=3)
    held = OldEvent.objects.create(event_name="A", profile=ann, next_attempt_at=moment)
    fresh = OldEvent.objects.create(event_name="B", profile=ann)
    sent = OldEvent.objects.create(
        event_name="C", profile=ann, sync_status="sent", next_attempt_at=moment
    )

    migrate_to(REQUEUE_AT)

    requeue_at = dict(Event.objects.values_list("id", "requeue_at"))
    assert requeue_at == {held.id: moment, fresh.id: None, sent.id: None}
