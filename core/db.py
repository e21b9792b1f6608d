"""Database helpers shared by the apps."""

import logging
from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)
T = TypeVar("T")

# MySQL/MariaDB "Deadlock found": InnoDB rolled the whole transaction back, so it can run again.
# An ingest takes its profile rows in identity order, the sync marks them sent in id order.
DEADLOCK_ERROR = 1213
DEADLOCK_ATTEMPTS = 3
# MySQL/MariaDB errors that say the database is away or busy, not that the query is wrong:
# can't connect (2002, 2003), server gone or connection lost (2006, 2013, 2055), too many
# connections (1040), shutting down (1053), connection killed (1927), lock wait timeout
# (1205), deadlock (1213), query interrupted (1317), idle connection closed (4031).
TRANSIENT_MYSQL_ERRORS = frozenset(
    {1040, 1053, 1205, 1213, 1317, 1927, 2002, 2003, 2006, 2013, 2055, 4031}
)


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


def run_retrying_deadlocks(transaction_run: Callable[[], T], *, what: str) -> T:
    """Runs one whole transaction (or one autocommit statement), again when the database
    picked it as a deadlock victim; never inside an outer transaction, which the deadlock
    rolled back too."""
    for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
        try:
            return transaction_run()
        except OperationalError as error:
            retry = error.args and error.args[0] == DEADLOCK_ERROR
            if not retry or attempt == DEADLOCK_ATTEMPTS or connection.in_atomic_block:
                raise
            logger.warning("%s chosen as a deadlock victim, running it again (%s)", what, attempt)
    raise AssertionError("unreachable")  # pragma: no cover
