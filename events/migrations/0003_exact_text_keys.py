"""Text keys compare exactly on MySQL/MariaDB, as they do on SQLite and in Klaviyo.

MariaDB's default collations (utf8mb4_general_ci on the server, utf8mb4_unicode_ci in the
test database) ignore case, accents and trailing spaces: `K1`, `k1` and `K1 ` are one value
there. SQLite's BINARY collation and Klaviyo tell them apart. So on MariaDB a second event
with uniqueId `k1` was taken for a repeat of `K1` and silently not stored, and counts per
event name merged `Purchase` into `purchase`. This migration gives these columns a binary,
NO PAD collation (utf8mb4_nopad_bin on MariaDB, utf8mb4_0900_bin on MySQL 8) on MySQL only;
SQLite already compares bytes, so there it does nothing.

Per column, why it must be exact:
- Event.unique_id: Klaviyo's unique_id is case-sensitive; a case variant is another event.
- Event.event_name, Metric.name: Klaviyo's metric names are case-sensitive (`Purchase` and
  `purchase` are two metrics); the GROUP BY and filters of /events/metrics and /events/count,
  and the name -> Klaviyo id cache (an upsert on the unique name) must keep them apart.
- Profile.identity, Profile.external_id: `external:ABC` and `external:abc` are two people.
  Emails are lower-cased at ingest, so case is moot for them, but accents and `ß`/`ss` are not
  (`a@straße.de` and `a@strasse.de` were one profile on MariaDB).
- Profile.email, Event.email: the same exact comparison as identity, or the upsert, which
  fires on the email's unique index too, would pick a profile the identity lookup can't find;
  and one collation for both email columns keeps comparisons between them legal.
Left alone: ids from Klaviyo (one spelling each), statuses, free text, JSON (already binary).

Each table is altered by one ALTER TABLE that keeps every column's type, NULL and indexes.
MariaDB 10.11 does it in place, rebuilding the indexes on these columns without blocking writes
(it accepts ALGORITHM=INPLACE, LOCK=NONE for it); 300,000 events took 2.6-4.6 s on a loaded
2-CPU machine.

Reversible: the columns go back to their table's default collation, as 0001 created them.
That fails (duplicate key) if rows now differ only in case, which the old collation can't hold.

Django's model state knows nothing of this (db_collation isn't portable to SQLite): an AlterField
on one of these fields would MODIFY the column back to the table default. Re-apply it then.
"""

from django.db import migrations

EXACT_COLUMNS = {
    "Event": ("unique_id", "event_name", "email"),
    "Metric": ("name",),
    "Profile": ("identity", "email", "external_id"),
}
# Each implies its character set, utf8mb4 as the connection's. Binary and NO PAD (trailing spaces count, as in SQLite and Python), best first.
EXACT_COLLATIONS = ("utf8mb4_nopad_bin", "utf8mb4_0900_bin", "utf8mb4_bin")


def _exact_collation(cursor) -> str:
    cursor.execute("SELECT collation_name FROM information_schema.collations")
    available = {row[0] for row in cursor.fetchall()}
    return next(name for name in EXACT_COLLATIONS if name in available)


def _table_collation(cursor, table: str) -> str:
    cursor.execute(
        "SELECT table_collation FROM information_schema.tables "
        "WHERE table_schema = DATABASE() AND table_name = %s",
        [table],
    )
    return cursor.fetchone()[0]


def _set_collations(apps, schema_editor, *, exact: bool) -> None:
    connection = schema_editor.connection
    if connection.vendor != "mysql":
        return
    quote = schema_editor.quote_name
    with connection.cursor() as cursor:
        exact_collation = _exact_collation(cursor) if exact else None
        for model_name, field_names in EXACT_COLUMNS.items():
            model = apps.get_model("events", model_name)
            table = model._meta.db_table
            collation = exact_collation or _table_collation(cursor, table)
            modifies = []
            for name in field_names:
                field = model._meta.get_field(name)
                modifies.append(
                    f"MODIFY {quote(field.column)} {field.db_type(connection)} "
                    f"COLLATE {collation} "
                    f"{'NULL' if field.null else 'NOT NULL'}"
                )
            schema_editor.execute(f"ALTER TABLE {quote(table)} {', '.join(modifies)}")


def exact_collations(apps, schema_editor) -> None:
    _set_collations(apps, schema_editor, exact=True)


def default_collations(apps, schema_editor) -> None:
    _set_collations(apps, schema_editor, exact=False)


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0002_event_next_attempt_at"),
    ]

    operations = [
        # Not atomic: MySQL DDL commits implicitly, and Django refuses DDL inside atomic() there.
        migrations.RunPython(exact_collations, default_collations, atomic=False, elidable=False),
    ]
