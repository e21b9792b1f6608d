"""The read endpoints' answers: Klaviyo first, within a time budget, else the local database.

Each read fetches from Klaviyo in a worker thread (HTTP only, no database), bounded as a whole by
READS_KLAVIYO_BUDGET_SECONDS; then, in the request's thread, writes back what Klaviyo adds (metric
ids, profile ids, profile attributes changed in Klaviyo) and answers. Any KlaviyoError, timeout,
rate limit or unexpected answer falls back to the local database, with one log line saying why.

Klaviyo's numbers count the events that reached Klaviyo; local numbers count every stored event
(pending, failed and skipped ones too) within the retention period.
"""

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from events import selectors
from events.models import Metric, Profile, SyncStatus
from events.read_serializers import cursor_encode
from events.services import json_merge_patch
from klaviyo_sync.client import KlaviyoClient, KlaviyoError, klaviyo_client

logger = logging.getLogger(__name__)

Source = Literal["klaviyo", "local"]
T = TypeVar("T")
A = TypeVar("A")

# Pages of GET /api/events one read follows at most (200 events each); a busier day or profile
# is answered locally rather than by listing thousands of events from Klaviyo.
MAX_EVENT_PAGES = 25
EVENTS_PAGE_SIZE = 200
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
# Zones metric-aggregates rejects (spec): asking would only spend a call of a 60/min budget.
AGGREGATE_UNSUPPORTED_ZONES = frozenset({"Factory", "Europe/Kyiv", "Pacific/Kanton"})
PAUSE_KEY = "events:klaviyo-reads:paused:{operation}"
AGGREGATE_KEY = "events:klaviyo-reads:count:{metric_id}:{day}:{tz}"

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


# --- Answers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricsAnswer:
    metrics: list[selectors.MetricSummary]
    source: Source


@dataclass(frozen=True)
class DayAnswer:
    metric: str
    date: date
    timezone: str
    start: datetime
    end: datetime
    klaviyo_metric_id: str | None
    source: Source
    count: int = 0
    emails: list[str] = field(default_factory=list)
    next_cursor: str | None = None


@dataclass(frozen=True)
class ProfileAttributesAnswer:
    email: str
    attributes: dict[str, Any]
    klaviyo_id: str | None
    source: Source


@dataclass(frozen=True)
class ProfileMetricsAnswer:
    email: str
    metrics: list[selectors.ProfileMetricSummary]
    klaviyo_id: str | None
    source: Source


# --- The Klaviyo-first mechanism ----------------------------------------------------------------


def _pool() -> ThreadPoolExecutor:
    """Created on first use, so that processes forked before it (gunicorn, celery) get their own."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="klaviyo-read")
        return _executor


def _klaviyo_first(
    what: str,
    fetch: Callable[[KlaviyoClient, Deadline], T],
    apply: Callable[[T], A],
    local: Callable[[str], A],
) -> A:
    """`fetch` (Klaviyo, in a worker thread) then `apply` (database, here); `local(reason)` when
    there is no key or either of them fails."""
    budget = settings.READS_KLAVIYO_BUDGET_SECONDS
    client = klaviyo_client(timeout=budget)
    if client is None:
        return local("no Klaviyo key")
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
    return local(reason)


def _describe(error: KlaviyoError) -> str:
    if error.status == 429:
        return f"rate limited (retry after {error.retry_after or '?'} s)"
    if getattr(error, "local", False):
        return f"held back by the client-side rate limiter: {error.detail}"
    if error.status is None:
        return f"unreachable: {error.detail}"
    return f"HTTP {error.status}: {error.detail}"


def _cache_get(key: str) -> Any:
    """The cache is an optimisation: when it is down, reads go on without it."""
    try:
        return cache.get(key)
    except Exception as error:
        logger.warning("Cache unavailable for Klaviyo reads: %s", type(error).__name__)
        return None


def _cache_set(key: str, value: Any, *, seconds: float) -> None:
    try:
        cache.set(key, value, timeout=seconds)
    except Exception as error:
        logger.warning("Cache unavailable for Klaviyo reads: %s", type(error).__name__)


def _call(operation: str, request: Callable[[], T]) -> T:
    """One Klaviyo request. After a 429, the same operation isn't tried again until Retry-After
    has passed: Klaviyo answers every earlier retry with another 429."""
    paused = PAUSE_KEY.format(operation=operation)
    if _cache_get(paused):
        raise NotInKlaviyo(f"{operation} rate limited, waiting out Retry-After")
    try:
        return request()
    except KlaviyoError as error:
        if error.status == 429:
            _cache_set(paused, True, seconds=max(error.retry_after or 1.0, 1.0))
        raise


def _included_by_id(included: Any, resource_type: str) -> dict[str, dict[str, Any]]:
    """The client's `included`, either keyed by (type, id) or Klaviyo's raw list."""
    items = included.values() if isinstance(included, dict) else included or []
    return {item["id"]: item for item in items if item.get("type") == resource_type}


def _related_id(resource: dict[str, Any], relation: str) -> str | None:
    data = ((resource.get("relationships") or {}).get(relation) or {}).get("data")
    return data.get("id") if isinstance(data, dict) else None


def _metric_ids_fetch(client: KlaviyoClient, deadline: Deadline) -> dict[str, str]:
    """Klaviyo's metric ids by name: GET /api/metrics can't filter by name, so all of them."""
    deadline.check()
    return {
        item["attributes"]["name"]: item["id"]
        for item in _call("metrics_list", client.metrics_list)
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


# --- GET /events/metrics ------------------------------------------------------------------------


def metrics_read() -> MetricsAnswer:
    """Every metric known (Klaviyo's and the local ones), Klaviyo's ids, local counts."""

    def apply(ids_by_name: dict[str, str]) -> MetricsAnswer:
        metric_ids_store(ids_by_name=ids_by_name)
        return MetricsAnswer(metrics=selectors.metric_list_with_counts(), source="klaviyo")

    def local(reason: str) -> MetricsAnswer:
        return MetricsAnswer(metrics=selectors.metric_list_with_counts(), source="local")

    return _klaviyo_first("metrics", _metric_ids_fetch, apply, local)


# --- GET /events/count and /events/emails -------------------------------------------------------


def _metric_id_resolve(
    client: KlaviyoClient, deadline: Deadline, *, name: str, known_id: str | None
) -> tuple[str, dict[str, str] | None]:
    """The metric's Klaviyo id and, when it had to be looked up, the whole fresh map."""
    if known_id:
        return known_id, None
    ids_by_name = _metric_ids_fetch(client, deadline)
    if name not in ids_by_name:
        raise NotInKlaviyo(f"metric {name!r} is not in Klaviyo")
    return ids_by_name[name], ids_by_name


def metric_day_count_read(*, metric: str, day: date, tz: ZoneInfo) -> DayAnswer:
    """How many `metric` events happened on `day` in `tz`: Klaviyo's metric aggregate, else a
    count of the local events. Klaviyo's answer is cached READS_KLAVIYO_CACHE_SECONDS: the
    aggregates endpoint allows 3 calls a second and 60 a minute per account."""
    start, end = selectors.day_bounds(day=day, tz=tz)
    known_id = selectors.metric_klaviyo_id(name=metric)
    answer = DayAnswer(
        metric=metric,
        date=day,
        timezone=tz.key,
        start=start,
        end=end,
        klaviyo_metric_id=known_id,
        source="local",
    )

    def fetch(client: KlaviyoClient, deadline: Deadline) -> tuple[str, int, dict | None]:
        if tz.key in AGGREGATE_UNSUPPORTED_ZONES:
            raise NotInKlaviyo(f"Klaviyo's aggregates don't support the time zone {tz.key}")
        metric_id, fresh_ids = _metric_id_resolve(client, deadline, name=metric, known_id=known_id)
        cache_key = AGGREGATE_KEY.format(metric_id=metric_id, day=day.isoformat(), tz=tz.key)
        cached = _cache_get(cache_key)
        if cached is not None:
            return metric_id, cached, fresh_ids
        deadline.check()
        aggregate = _call(
            "metric_aggregate",
            lambda: client.metric_aggregate(
                metric_id=metric_id, start=start, end=end, timezone=tz.key, interval="day"
            ),
        )
        count = _aggregate_count(aggregate)
        if settings.READS_KLAVIYO_CACHE_SECONDS:
            _cache_set(cache_key, count, seconds=settings.READS_KLAVIYO_CACHE_SECONDS)
        return metric_id, count, fresh_ids

    def apply(fetched: tuple[str, int, dict | None]) -> DayAnswer:
        metric_id, count, fresh_ids = fetched
        if fresh_ids:
            metric_ids_store(ids_by_name=fresh_ids)
        return replace(answer, klaviyo_metric_id=metric_id, count=count, source="klaviyo")

    def local(reason: str) -> DayAnswer:
        count = selectors.event_count_in_window(event_name=metric, start=start, end=end)
        return replace(answer, count=count)

    return _klaviyo_first("count", fetch, apply, local)


def _aggregate_count(aggregate: dict[str, Any]) -> int:
    """The sum of the `count` buckets of a metric-aggregates answer (one per day asked)."""
    attributes = aggregate.get("data", aggregate)
    attributes = attributes.get("attributes", attributes)
    total = 0.0
    for row in attributes.get("data") or []:
        total += sum(value or 0 for value in row["measurements"]["count"])
    return round(total)


def metric_day_emails_read(
    *, metric: str, day: date, tz: ZoneInfo, after: str | None, limit: int
) -> DayAnswer:
    """Distinct emails that did `metric` on `day`, sorted, from `after` on, `limit` of them."""
    start, end = selectors.day_bounds(day=day, tz=tz)
    known_id = selectors.metric_klaviyo_id(name=metric)
    answer = DayAnswer(
        metric=metric,
        date=day,
        timezone=tz.key,
        start=start,
        end=end,
        klaviyo_metric_id=known_id,
        source="local",
    )

    def fetch(client: KlaviyoClient, deadline: Deadline) -> tuple[str, dict[str, str], dict | None]:
        metric_id, fresh_ids = _metric_id_resolve(client, deadline, name=metric, known_id=known_id)
        profile_ids_by_email: dict[str, str] = {}
        cursor: str | None = None
        for _page in range(MAX_EVENT_PAGES):
            deadline.check()
            events, included, cursor = _call(
                "events_list",
                lambda cursor=cursor: client.events_list(
                    metric_id=metric_id,
                    since=start,
                    until=end,
                    page_cursor=cursor,
                    page_size=EVENTS_PAGE_SIZE,
                    include_profile=True,
                ),
            )
            profiles = _included_by_id(included, "profile")
            for event in events:
                profile_id = _related_id(event, "profile")
                email = (profiles.get(profile_id) or {}).get("attributes", {}).get("email")
                if email:
                    profile_ids_by_email[email.strip().lower()] = profile_id
            if not cursor:
                return metric_id, profile_ids_by_email, fresh_ids
        raise NotInKlaviyo(f"more than {MAX_EVENT_PAGES * EVENTS_PAGE_SIZE} events that day")

    def apply(fetched: tuple[str, dict[str, str], dict | None]) -> DayAnswer:
        metric_id, profile_ids_by_email, fresh_ids = fetched
        if fresh_ids:
            metric_ids_store(ids_by_name=fresh_ids)
        emails = sorted(e for e in profile_ids_by_email if after is None or e > after)
        page = emails[:limit]
        profile_klaviyo_ids_store(ids_by_email={e: profile_ids_by_email[e] for e in page})
        return replace(
            answer,
            klaviyo_metric_id=metric_id,
            emails=page,
            next_cursor=cursor_encode(page[-1]) if len(emails) > limit else None,
            source="klaviyo",
        )

    def local(reason: str) -> DayAnswer:
        # One more than asked tells whether there is a next page.
        emails = selectors.event_emails_in_window(
            event_name=metric, start=start, end=end, after=after, limit=limit + 1
        )
        page = emails[:limit]
        return replace(
            answer,
            emails=page,
            next_cursor=cursor_encode(page[-1]) if len(emails) > limit else None,
        )

    return _klaviyo_first("emails", fetch, apply, local)


# --- GET /events/profiles/{email}/... -----------------------------------------------------------


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


def _profile_fetch(client: KlaviyoClient, deadline: Deadline, *, email: str) -> dict[str, Any]:
    deadline.check()
    resource = _call("profile_get", lambda: client.profile_get_by_email(email=email))
    if resource is None:
        raise NotInKlaviyo("profile is not in Klaviyo")
    return resource


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
    updated = rows.update(**changes, updated_at=timezone.now())
    if updated:
        logger.info("Profile %s updated from Klaviyo: %s", profile.pk, sorted(changes))


def profile_attributes_read(*, email: str) -> ProfileAttributesAnswer | None:
    """The profile's attributes from Klaviyo, else the local copy; None when neither has it."""
    profile = selectors.profile_get_by_email(email=email)

    def fetch(client: KlaviyoClient, deadline: Deadline) -> dict[str, Any]:
        return _profile_fetch(client, deadline, email=email)

    def apply(resource: dict[str, Any]) -> ProfileAttributesAnswer:
        attributes = klaviyo_profile_attributes(resource)
        profile_klaviyo_store(profile=profile, klaviyo_id=resource["id"], attributes=attributes)
        return ProfileAttributesAnswer(
            email=email, attributes=attributes, klaviyo_id=resource["id"], source="klaviyo"
        )

    def local(reason: str) -> ProfileAttributesAnswer | None:
        if profile is None:
            return None
        return ProfileAttributesAnswer(
            email=email,
            attributes=profile.attributes,
            klaviyo_id=profile.klaviyo_id,
            source="local",
        )

    return _klaviyo_first("profile attributes", fetch, apply, local)


def _event_time(event: dict[str, Any]) -> datetime:
    attributes = event.get("attributes") or {}
    if attributes.get("datetime"):
        return datetime.fromisoformat(attributes["datetime"]).astimezone(UTC)
    return datetime.fromtimestamp(attributes["timestamp"], UTC)


def profile_metrics_read(*, email: str) -> ProfileMetricsAnswer | None:
    """Per metric the profile did: count, first and last time; Klaviyo's events of the profile,
    else the local ones. None when neither knows the profile."""
    profile = selectors.profile_get_by_email(email=email)
    names_by_id = selectors.metric_names_by_klaviyo_id()

    def fetch(client: KlaviyoClient, deadline: Deadline) -> tuple[str, dict, dict | None]:
        profile_id = _profile_fetch(client, deadline, email=email)["id"]
        summaries: dict[str, list[Any]] = {}  # metric id -> [count, first time, last time]
        cursor: str | None = None
        for _page in range(MAX_EVENT_PAGES):
            deadline.check()
            events, _included, cursor = _call(
                "events_list",
                lambda cursor=cursor: client.events_list(
                    profile_id=profile_id, page_cursor=cursor, page_size=EVENTS_PAGE_SIZE
                ),
            )
            for event in events:
                metric_id = _related_id(event, "metric")
                if metric_id is None:
                    continue  # Klaviyo lists events whose metric it can't resolve
                moment = _event_time(event)
                row = summaries.setdefault(metric_id, [0, moment, moment])
                row[0] += 1
                row[1], row[2] = min(row[1], moment), max(row[2], moment)
            if not cursor:
                break
        else:
            raise NotInKlaviyo(f"profile has more than {MAX_EVENT_PAGES * EVENTS_PAGE_SIZE} events")
        unknown = summaries.keys() - names_by_id.keys()
        fresh_ids = _metric_ids_fetch(client, deadline) if unknown else None
        return profile_id, summaries, fresh_ids

    def apply(fetched: tuple[str, dict, dict | None]) -> ProfileMetricsAnswer:
        profile_id, summaries, fresh_ids = fetched
        names = dict(names_by_id)
        if fresh_ids:
            metric_ids_store(ids_by_name=fresh_ids)
            names.update({metric_id: name for name, metric_id in fresh_ids.items()})
        metrics = sorted(
            (
                selectors.ProfileMetricSummary(
                    metric=names[metric_id], count=count, first_time=first, last_time=last
                )
                for metric_id, (count, first, last) in summaries.items()
                if metric_id in names
            ),
            key=lambda summary: summary.metric,
        )
        profile_klaviyo_store(profile=profile, klaviyo_id=profile_id)
        return ProfileMetricsAnswer(
            email=email, metrics=metrics, klaviyo_id=profile_id, source="klaviyo"
        )

    def local(reason: str) -> ProfileMetricsAnswer | None:
        if profile is None:
            return None
        return ProfileMetricsAnswer(
            email=email,
            metrics=selectors.profile_metric_summaries(email=email),
            klaviyo_id=profile.klaviyo_id,
            source="local",
        )

    return _klaviyo_first("profile metrics", fetch, apply, local)
