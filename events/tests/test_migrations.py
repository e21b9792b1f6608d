"""Migration 0003 (exact text keys): what it does to the columns, and that it reverses."""

from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from events.models import Event, Profile

EXACT_COLUMNS = {
    "events_event": {"unique_id", "event_name", "email"},
    "events_metric": {"name"},
    "events_profile": {"identity", "email", "external_id"},
}
BEFORE, AFTER = ("events", "0002_event_next_attempt_at"), ("events", "0003_exact_text_keys")


def migrate_to(target: tuple[str, str]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])


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
    migrate_to(AFTER)


def test_it_makes_the_key_columns_binary_and_reverses_to_the_table_default(back_at_the_end):
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
    migrate_to(AFTER)

    Event.objects.create(event_name="Purchase", profile=profile, unique_id="k1")
    assert sorted(Event.objects.values_list("unique_id", flat=True)) == ["K1", "k1"]
    assert Profile.objects.get().identity == "external:ABC"
