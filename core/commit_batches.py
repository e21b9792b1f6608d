"""Acting once on what a transaction did, after it commits.

`transaction.on_commit` for every saved row would queue a task (or bump a counter) per row: 1,000
for one bulk ingest. A `CommitBatches` gathers the items of a transaction in one list and hands the
whole list to its `deliver` callable once, when the transaction commits.

Items gathered inside a savepoint (a nested `atomic()`) go in a list of their own, registered with
`on_commit` from inside that savepoint: Django drops the callback when the savepoint rolls back, and
with it exactly the items whose rows were rolled back. So a transaction whose rows are all saved at
one level (each ingest, single or bulk, in production) is delivered as one list; one that nests
atomic blocks is delivered as one list per block, in order.
"""

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

T = TypeVar("T")


class _Batch(Generic[T]):
    """The on_commit callback of one transaction (or savepoint): delivers what was gathered."""

    def __init__(self, deliver: Callable[[list[T]], None]) -> None:
        self.deliver = deliver
        self.items: list[T] = []
        self.delivered = False

    def __call__(self) -> None:
        self.delivered = True
        items, self.items = self.items, []
        if items:
            self.deliver(items)

    def is_pending_on(self, connection: BaseDatabaseWrapper) -> bool:
        """Still to run at commit: not run yet, nor dropped by a rollback."""
        return not self.delivered and any(
            callback is self for _, callback, _ in connection.run_on_commit
        )


class CommitBatches(Generic[T]):
    def __init__(self, deliver: Callable[[list[T]], None]) -> None:
        self._deliver = deliver
        # Per thread, as Django's connections are: the open batch of each database and
        # savepoint level (a dict per thread, not a WeakKeyDictionary: this runs once per row).
        self._open = threading.local()

    def add(self, item: T, *, using: str | None = None) -> None:
        """Delivers `item` with the others of its transaction once it commits; at once outside
        a transaction (autocommit: the row is committed already), as on_commit does."""
        connection = transaction.get_connection(using)
        if not connection.in_atomic_block:
            transaction.on_commit(lambda: self._deliver([item]), using=using)
            return
        level = (connection.alias, *connection.savepoint_ids)
        batches: dict[tuple[str, ...], _Batch[T]] = self._open.__dict__.setdefault("batches", {})
        batch = batches.get(level)
        if batch is None or not batch.is_pending_on(connection):
            # Forget the batches already run or rolled back; savepoint names aren't reused.
            for stale in [key for key, old in batches.items() if not old.is_pending_on(connection)]:
                del batches[stale]
            batch = batches[level] = _Batch(self._deliver)
            transaction.on_commit(batch, using=using)
        batch.items.append(item)
