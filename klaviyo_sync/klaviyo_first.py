"""Klaviyo first, within a time budget: the mechanism under the read endpoints (answers.py).

A read's Klaviyo part runs in a worker thread (HTTP only, no database), bounded as a whole by
READS_KLAVIYO_BUDGET_SECONDS; then, in the request's thread, what Klaviyo adds is applied
(recorded by read_services.py: metric ids, profile ids, profile attributes changed in Klaviyo).
Any KlaviyoError, timeout, rate limit or unexpected answer falls back to the local answer, with
one log line saying why.
"""

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache

from klaviyo_client.client import KlaviyoClient, klaviyo_client
from klaviyo_client.errors import KlaviyoError

logger = logging.getLogger(__name__)

T = TypeVar("T")
A = TypeVar("A")

PAUSE_KEY = "events:klaviyo-reads:paused:{operation}"

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


class NotInKlaviyo(Exception):
    """Klaviyo doesn't know the metric or profile (yet): the local copy may."""


class BudgetExceeded(Exception):
    pass


@dataclass(frozen=True)
class Deadline:
    at: float

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def check(self) -> None:
        if self.remaining() <= 0:
            raise BudgetExceeded("time budget used up")


# --- The Klaviyo-first mechanism ----------------------------------------------------------------


def _pool() -> ThreadPoolExecutor:
    """Created on first use, so that processes forked before it (gunicorn, celery) get their own."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="klaviyo-read")
        return _executor


def klaviyo_first(
    what: str,
    fetch: Callable[[KlaviyoClient, Deadline], T],
    apply: Callable[[T], A],
    local: Callable[[], A],
) -> A:
    """`fetch` (Klaviyo, in a worker thread) then `apply` (database, here); `local()` when there
    is no key or either of them fails, after a log line saying why."""
    budget = settings.READS_KLAVIYO_BUDGET_SECONDS
    client = klaviyo_client(timeout=budget)
    if client is None:
        return local()
    deadline = Deadline(time.monotonic() + budget)
    future = _pool().submit(fetch, client, deadline)
    level = logging.WARNING
    try:
        fetched = future.result(timeout=max(deadline.remaining(), 0))
        return apply(fetched)
    except FutureTimeout:
        future.cancel()
        reason = f"no answer within {budget:g} s"
    except BudgetExceeded:
        reason = f"no answer within {budget:g} s"
    except NotInKlaviyo as error:
        # Not a failure: Klaviyo doesn't have it (yet), or we chose not to ask.
        level, reason = logging.INFO, str(error)
    except KlaviyoError as error:
        reason = _describe(error)
    except Exception as error:  # a malformed answer must not turn a read into a 500
        logger.exception("Klaviyo %s read: unexpected failure", what)
        reason = f"unexpected {type(error).__name__}: {error}"
    logger.log(
        level,
        "Klaviyo %s read answered locally: %s",
        what,
        reason,
        extra={"read": what, "reason": reason},
    )
    return local()


def _describe(error: KlaviyoError) -> str:
    if error.status == 429:
        return f"rate limited (retry after {error.retry_after or '?'} s)"
    if getattr(error, "local", False):
        return f"held back by the client-side rate limiter: {error.detail}"
    if error.status is None:
        return f"unreachable: {error.detail}"
    return f"HTTP {error.status}: {error.detail}"


def cache_get(key: str) -> Any:
    """The cache is an optimisation: when it is down, reads go on without it."""
    try:
        return cache.get(key)
    except Exception as error:
        logger.warning("Cache unavailable for Klaviyo reads: %s", type(error).__name__)
        return None


def cache_set(key: str, value: Any, *, seconds: float) -> None:
    try:
        cache.set(key, value, timeout=seconds)
    except Exception as error:
        logger.warning("Cache unavailable for Klaviyo reads: %s", type(error).__name__)


def klaviyo_call(operation: str, request: Callable[[], T]) -> T:
    """One Klaviyo request. After a 429, the same operation isn't tried again until Retry-After
    has passed: Klaviyo answers every earlier retry with another 429."""
    paused = PAUSE_KEY.format(operation=operation)
    if cache_get(paused):
        raise NotInKlaviyo(f"{operation} rate limited, waiting out Retry-After")
    try:
        return request()
    except KlaviyoError as error:
        if error.status == 429:
            cache_set(paused, True, seconds=max(error.retry_after or 1.0, 1.0))
        raise
