"""Klaviyo first, within a time budget: the mechanism under the read endpoints (answers.py).

A read's Klaviyo part runs in a worker thread (HTTP only, no database), bounded as a whole by
READS_KLAVIYO_BUDGET_SECONDS; then, in the request's thread, what Klaviyo adds is written back
here (metric ids, profile ids, profile attributes changed in Klaviyo). Any KlaviyoError,
timeout, rate limit or unexpected answer falls back to the local answer, with one log line
saying why.
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
from django.db import connection
from django.utils import timezone

from events.models import Metric, Profile, SyncStatus
from events.services import json_merge_patch
from klaviyo_client.client import KlaviyoClient, KlaviyoError, klaviyo_client

logger = logging.getLogger(__name__)

T = TypeVar("T")
A = TypeVar("A")

# Klaviyo's standard profile attributes, snake_case there, camelCase as our clients send them.
STANDARD_PROFILE_ATTRIBUTES = {
    "phone_number": "phoneNumber",
    "external_id": "externalId",
    "first_name": "firstName",
    "last_name": "lastName",
    "organization": "organization",
    "locale": "locale",
    "title": "title",
    "image": "image",
    "location": "location",
}
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


def resources_by_id(included: Any, resource_type: str) -> dict[str, dict[str, Any]]:
    """The client's `included`, either keyed by (type, id) or Klaviyo's raw list."""
    items = included.values() if isinstance(included, dict) else included or []
    return {item["id"]: item for item in items if item.get("type") == resource_type}


def related_id(resource: dict[str, Any], relation: str) -> str | None:
    data = ((resource.get("relationships") or {}).get(relation) or {}).get("data")
    return data.get("id") if isinstance(data, dict) else None


def metric_ids_fetch(client: KlaviyoClient, deadline: Deadline) -> dict[str, str]:
    """Klaviyo's metric ids by name: GET /api/metrics can't filter by name, so all of them."""
    deadline.check()
    return {
        item["attributes"]["name"]: item["id"]
        for item in klaviyo_call("metrics_list", client.metrics_list)
    }


def metric_ids_store(*, ids_by_name: dict[str, str]) -> None:
    """Caches Klaviyo's metric ids in the Metric table; writes only new or changed ones."""
    known = dict(
        Metric.objects.filter(name__in=list(ids_by_name)).values_list("name", "klaviyo_id")
    )
    longest = Metric._meta.get_field("name").max_length
    changed = [
        Metric(name=name, klaviyo_id=metric_id)
        for name, metric_id in sorted(ids_by_name.items())
        if known.get(name, "") != metric_id and len(name) <= longest
    ]
    if not changed:
        return
    # Upsert on the unique name: concurrent reads storing the same map don't collide.
    conflict_target = {} if connection.vendor == "mysql" else {"unique_fields": ["name"]}
    Metric.objects.bulk_create(
        changed,
        update_conflicts=True,
        update_fields=["klaviyo_id", "updated_at"],
        **conflict_target,
    )


def profile_klaviyo_ids_store(*, ids_by_email: dict[str, str]) -> None:
    """Records Klaviyo's profile ids on the local profiles that lack them."""
    profiles = list(
        Profile.objects.filter(email__in=list(ids_by_email), klaviyo_id__isnull=True).only(
            "id", "email"
        )
    )
    for profile in profiles:
        profile.klaviyo_id = ids_by_email[profile.email]
    Profile.objects.bulk_update(profiles, ["klaviyo_id"], batch_size=500)


def klaviyo_profile_attributes(resource: dict[str, Any]) -> dict[str, Any]:
    """A Klaviyo profile's attributes as our clients send them: standard ones camelCase, custom
    `properties` at the top level; the email (the answer's own key), empty values and
    Klaviyo's bookkeeping (created, updated, ...) left out."""
    source = resource.get("attributes") or {}
    attributes: dict[str, Any] = {
        key: value for key, value in (source.get("properties") or {}).items() if value is not None
    }
    for klaviyo_key, our_key in STANDARD_PROFILE_ATTRIBUTES.items():
        value = source.get(klaviyo_key)
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if v is not None} or None
        if value not in (None, ""):
            attributes[our_key] = value
    return attributes


def profile_klaviyo_store(
    *, profile: Profile | None, klaviyo_id: str, attributes: dict[str, Any] | None = None
) -> None:
    """Records Klaviyo's id for the profile and merges in attributes changed in Klaviyo.

    Attributes only when the local profile has nothing pending for Klaviyo (else ours are the
    newer ones) and hasn't changed since it was read (updated_at guards the write).
    """
    if profile is None:
        return
    changes: dict[str, Any] = {}
    if profile.klaviyo_id != klaviyo_id:
        changes["klaviyo_id"] = klaviyo_id
    if attributes is not None and profile.sync_status != SyncStatus.PENDING:
        merged = json_merge_patch(profile.attributes, attributes)
        if merged != profile.attributes:
            changes["attributes"] = merged
    if not changes:
        return
    rows = Profile.objects.filter(pk=profile.pk, updated_at=profile.updated_at)
    if "attributes" in changes:
        rows = rows.exclude(sync_status=SyncStatus.PENDING)
        # Only attributes move updated_at: the sync marks a profile sent only if it hasn't
        # changed since read, and Klaviyo's id alone would leave it pending for good.
        changes["updated_at"] = timezone.now()
    updated = rows.update(**changes)
    if updated:
        logger.info("Profile %s updated from Klaviyo: %s", profile.pk, sorted(changes))
