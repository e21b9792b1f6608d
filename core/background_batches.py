"""Delivering small lists of items from a thread of the process's own, several lists at a time.

A web request that stores one event would otherwise publish its Celery task itself, on commit:
about a quarter of the request's CPU (kombu builds a Redis client and the message, Celery
formats the arguments; bench/single.py, bench/single_profile.py) and a wait on the broker. A
`BackgroundBatches` takes the ids instead (an append under a lock), and its thread hands what
came within `window()` seconds of the first waiting item, up to `max_batch` items, to `deliver`
in one call: under load one task carries several events, and no request waits on the broker.

What it holds is in memory only. It is delivered by its thread, `window()` after the first item
came (or as soon as `max_batch` wait), and by `flush()`: at the process's exit (atexit), and
where a process ends without atexit (Celery's pool processes: klaviyo_sync/apps.py). A child
of a fork starts empty, with a thread of its own. What a process held when it was killed
(SIGKILL, out of memory) is lost here: the caller needs a safety net (the events' sweeper).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from celery.signals import worker_process_shutdown
from django.db import connections

T = TypeVar("T")
logger = logging.getLogger(__name__)
_everyone: list[BackgroundBatches] = []  # of this process, for flush_all()


class BackgroundBatches(Generic[T]):
    def __init__(
        self,
        deliver: Callable[[list[T]], None],
        *,
        window: Callable[[], float],
        max_batch: int,
        name: str,
    ) -> None:
        self._deliver = deliver
        self.window = window
        self.max_batch = max_batch
        self.name = name
        self._reset()
        _everyone.append(self)
        os.register_at_fork(after_in_child=self._reset)
        atexit.register(self.flush)

    def _reset(self) -> None:
        """An empty state (at start, and in a fork's child: the parent's lock may have been held
        by one of its threads at the fork, and its thread isn't in the child)."""
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)  # the thread: items came
        self._idle = threading.Condition(self._lock)  # flush(): a delivery ended
        self._items: list[T] = []
        self._since = 0.0  # when the oldest waiting item came (monotonic)
        self._delivering = 0
        self._thread: threading.Thread | None = None

    def add(self, items: Iterable[T]) -> None:
        """Delivers `items` within `window()` seconds, with whatever else comes meanwhile."""
        with self._lock:
            first = not self._items
            self._items.extend(items)
            if not self._items:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            if first:
                self._since = time.monotonic()
                self._ready.notify()
            elif len(self._items) >= self.max_batch:
                self._ready.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._items:
                    self._ready.wait()
                deadline = self._since + self.window()
                while len(self._items) < self.max_batch:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._ready.wait(left)
                batch = self._items[: self.max_batch]
                del self._items[: self.max_batch]  # what is left is due at once
                self._delivering += 1
            self._hand_over(batch)

    def _hand_over(self, batch: list[T]) -> None:
        try:
            self._deliver(batch)
        except Exception:  # a failed delivery must not end the thread: log it, go on
            logger.exception("%s: could not deliver %d items", self.name, len(batch))
        finally:
            if threading.current_thread() is self._thread:
                # Django closes a request thread's connections; this one's are closed here (a
                # delivery rarely opens one: only to mark what the broker refused).
                for connection in connections.all(initialized_only=True):
                    connection.close()
            with self._lock:
                self._delivering -= 1
                self._idle.notify_all()

    def flush(self, timeout: float = 10.0) -> None:
        """Delivers what waits, in this thread, and waits (up to `timeout` seconds) for a
        delivery under way in the background to end."""
        with self._lock:
            items, self._items = self._items, []
            chunks = [items[i : i + self.max_batch] for i in range(0, len(items), self.max_batch)]
            self._delivering += len(chunks)
        for chunk in chunks:
            self._hand_over(chunk)
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._delivering and (left := deadline - time.monotonic()) > 0:
                self._idle.wait(left)


def flush_all(timeout: float = 10.0) -> None:
    """Every BackgroundBatches of this process, flushed."""
    for batches in _everyone:
        batches.flush(timeout)


@worker_process_shutdown.connect
def _flush_at_pool_process_exit(**kwargs: object) -> None:
    """Celery's pool processes end with os._exit (no atexit): flushed on their way out."""
    flush_all()
