"""Database helpers shared by the apps."""

import json
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import EmptyResultSet
from django.db import DatabaseError, InterfaceError, OperationalError, connection, connections
from django.db.models import CharField, QuerySet
from django.db.models.functions import Cast

logger = logging.getLogger(__name__)
T = TypeVar("T")

# MySQL/MariaDB "Deadlock found": InnoDB rolled the whole transaction back, so it can run again.
# An ingest takes its profile rows in identity order, the sync marks them sent in id order.
DEADLOCK_ERROR = 1213
LOCK_WAIT_TIMEOUT = 1205
ROW_REFERENCED = 1451  # a row still referenced by a foreign key
DEADLOCK_ONLY = frozenset({DEADLOCK_ERROR})
RETRY_ATTEMPTS = 3
# MySQL/MariaDB errors that say the database is away or busy, not that the query is wrong:
# can't connect (2002, 2003), server gone or connection lost (2006, 2013, 2055), too many
# connections (1040), shutting down (1053), connection killed (1927), lock wait timeout
# (1205), deadlock (1213), query interrupted (1317), idle connection closed (4031).
TRANSIENT_MYSQL_ERRORS = frozenset(
    {1040, 1053, 1205, 1213, 1317, 1927, 2002, 2003, 2006, 2013, 2055, 4031}
)
# Waits between tries while the database is away (a restart takes seconds).
RECONNECT_PAUSES = (0.2, 0.5, 1.0, 2.0, 4.0)


def database_unavailable(error: Exception) -> bool:
    """Whether `error` means the database is down or busy (try again later), as opposed to a
    bug such as an unknown column, which Django also raises as OperationalError."""
    if isinstance(error, InterfaceError):
        return True  # the connection is closed or unusable
    if not isinstance(error, OperationalError):
        return False
    code = error.args[0] if error.args else None
    if isinstance(code, int):
        return code in TRANSIENT_MYSQL_ERRORS
    # SQLite says it in words; its other OperationalErrors are bugs (no such table, syntax).
    return "database is locked" in str(error) or "unable to open database" in str(error)


def run_retrying(
    transaction_run: Callable[[], T],
    *,
    what: str,
    retry_on: frozenset[int] = DEADLOCK_ONLY,
    pause_seconds: float = 0.0,
    unavailable_for: float = 0.0,
) -> T:
    """Runs one whole transaction (or one autocommit statement), again when it failed with one
    of the MySQL/MariaDB errors `retry_on` (SQLite's "database is locked" counting as a lock
    wait timeout), RETRY_ATTEMPTS times in all, `pause_seconds` times the attempt apart.

    A deadlock is never run again inside an outer transaction: InnoDB rolled that back too.

    With `unavailable_for` (seconds), also again while the database is away or busy (a lost
    connection, a restart: `database_unavailable`), on a new connection, for up to that long.
    Only for writes that may safely run twice (they set values, they don't add to them): a lost
    connection doesn't say whether the statement committed.
    """
    deadline = time.monotonic() + unavailable_for
    pauses = iter(RECONNECT_PAUSES)
    attempt = 0
    while True:
        attempt += 1
        try:
            return transaction_run()
        except DatabaseError as error:
            code = _error_code(error)
            outer = connection.in_atomic_block
            if (
                code in retry_on
                and attempt < RETRY_ATTEMPTS
                and not (code == DEADLOCK_ERROR and outer)
            ):
                deadlock = code == DEADLOCK_ERROR
                why = "chosen as a deadlock victim" if deadlock else f"failed ({error})"
                logger.warning("%s %s, running it again (%s)", what, why, attempt)
                if pause_seconds:
                    time.sleep(pause_seconds * attempt)
                continue
            if not unavailable_for or outer or not database_unavailable(error):
                raise
            pause = next(pauses, RECONNECT_PAUSES[-1])
            if time.monotonic() + pause > deadline:
                raise
            logger.warning("%s: database unavailable (%s), trying again", what, error)
            connection.close()  # a lost connection stays unusable: Django opens a new one
            time.sleep(pause)


def _error_code(error: DatabaseError) -> int | None:
    """MySQL/MariaDB's error number; SQLite's lock (in words) as the lock wait timeout's."""
    code = error.args[0] if error.args else None
    if isinstance(code, int):
        return code
    return LOCK_WAIT_TIMEOUT if "database is locked" in str(error) else None


def rows_as_stored(queryset: QuerySet) -> list[tuple[Any, ...]]:
    """The rows of a `values_list` queryset as the database gives them, through none of the
    fields' converters (a datetime naive, in UTC; JSON as text): to decode a column in bulk
    (rows_with_json_last), or to compare times without converting each."""
    try:
        sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    except EmptyResultSet:  # a filter no row can match (`id__in=[]`): Django asks nothing
        return []
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def rows_with_json_last(queryset: QuerySet) -> list[tuple[Any, ...]]:
    """The rows of a `values_list(..., json_field)` queryset, the JSON column (the last) decoded
    by one json.loads for all of them rather than by the field's converter row by row: for the
    10,000 changes of a bulk import job, those calls were a tenth of the worker's CPU. The
    column is read as the text the database keeps; a backend that decodes it itself (a value
    that is not text) gets the field's own conversion. The other columns are as stored."""
    rows = rows_as_stored(queryset)
    texts = [row[-1] for row in rows]
    if not all(isinstance(text, str) for text in texts):
        return list(queryset)
    decoded = json.loads(f"[{','.join(texts)}]")
    return [(*row[:-1], value) for row, value in zip(rows, decoded, strict=True)]


def time_as_text(column: str) -> Cast:
    """A time column as its text, which orders as the times do (YYYY-MM-DD HH:MM:SS.ffffff):
    two of them compared without a datetime built for each (the database driver's parsing of
    20,000 of them was a fifth of a bulk import job's time)."""
    return Cast(column, output_field=CharField())
