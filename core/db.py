"""Database helpers shared by the apps."""

import logging
from collections.abc import Callable
from typing import TypeVar

from django.db import OperationalError, connection

logger = logging.getLogger(__name__)
T = TypeVar("T")

# MySQL/MariaDB "Deadlock found": InnoDB rolled the whole transaction back, so it can run again.
# An ingest takes its profile rows in identity order, the sync marks them sent in id order.
DEADLOCK_ERROR = 1213
DEADLOCK_ATTEMPTS = 3


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
