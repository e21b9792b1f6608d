"""A worker bootstep that records, every WORKER_HEARTBEAT_SECONDS, that this worker is alive
(core.models.WorkerHeartbeat), so /health can say when no worker has been seen.

A thread of the worker's main process, not a periodic task: a long queue would delay a task
and make a busy worker look dead, and beat being down is not the worker being down.

The main process forks the pool's processes: a fork while this thread is inside SQLite or the
database driver would leave the child with a lock held by a thread it doesn't have (seen: a pool
process hung on its first query, or "database is locked" for 20 s). So the step starts after
the pool, and each beat holds a lock that every fork of this process waits for.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from celery import bootsteps
from django.conf import settings
from django.db import connection
from django.utils import timezone

logger = logging.getLogger(__name__)


# Held by a beat while it writes, and by every fork of this process (os.register_at_fork).
_beating = threading.Lock()
os.register_at_fork(
    before=_beating.acquire,
    after_in_parent=_beating.release,
    after_in_child=_beating.release,
)


class WorkerHeartbeatStep(bootsteps.StartStopStep):
    label = "klaviyo-backend heartbeat"
    requires = ("celery.worker.components:Pool",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, parent: Any) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._beat,
            args=(parent.hostname,),
            name="worker-heartbeat",
            daemon=True,
        )
        self._thread.start()

    def stop(self, parent: Any) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _beat(self, hostname: str) -> None:
        # Here, not at the top: the Celery app (and so this module) loads before Django's apps.
        from core.services import worker_heartbeat_record

        started_at = timezone.now()
        while True:
            with _beating:
                try:
                    worker_heartbeat_record(
                        hostname=hostname, pid=os.getpid(), started_at=started_at
                    )
                except Exception as error:  # the database away: try again at the next beat
                    logger.warning("Heartbeat not recorded (%s: %s)", type(error).__name__, error)
                finally:
                    connection.close()  # this thread's own connection; none held between beats
            if self._stopping.wait(settings.WORKER_HEARTBEAT_SECONDS):
                return
