"""The read endpoints' answers (GET /events/metrics, count, emails, profiles/{email}/...):
Klaviyo's data when it answers within the budget (klaviyo_first.py), else the local database
(events/selectors.py). What Klaviyo tells a read is recorded by read_services.py.

Klaviyo's numbers count the events that reached Klaviyo; local numbers count every stored event
(pending, failed and skipped ones too) within the retention period.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from django.conf import settings

from events import selectors
from klaviyo_client.client import KlaviyoClient
from klaviyo_client.limits import AGGREGATE_UNSUPPORTED_ZONES, MAX_EVENTS_PAGE
from klaviyo_client.resources import (
    metric_ids_by_name,
    profile_attributes_ours,
    related_id,
    resources_by_id,
)
from klaviyo_sync.klaviyo_first import (
    Deadline,
    NotInKlaviyo,
    cache_get,
    cache_set,
    klaviyo_call,
    klaviyo_first,
)
from klaviyo_sync.read_services import (
    metric_ids_store,
    profile_klaviyo_ids_store,
    profile_klaviyo_store,
)

Source = Literal["klaviyo", "local"]

# Pages of GET /api/events one read follows at most, of Klaviyo's largest page (1,000 events;
# its default is 200): a busier day or profile is answered locally rather than by listing tens
# of thousands of events from Klaviyo.
MAX_EVENT_PAGES = 25
AGGREGATE_KEY = "events:klaviyo-reads:count:{metric_id}:{day}:{tz}"


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
    next_after: str | None = None  # the page's last email when there is a next page


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


def metric_ids_fetch(client: KlaviyoClient, deadline: Deadline) -> dict[str, str]:
    """Klaviyo's metric ids by name: GET /api/metrics can't filter by name, so all of them."""
    deadline.check()
    return metric_ids_by_name(klaviyo_call("metrics_list", client.metrics_list))


# --- GET /events/metrics ------------------------------------------------------------------------


def metrics_read() -> MetricsAnswer:
    """Every metric known (Klaviyo's and the local ones), Klaviyo's ids, local counts."""

    def apply(ids_by_name: dict[str, str]) -> MetricsAnswer:
        metric_ids_store(ids_by_name=ids_by_name)
        return MetricsAnswer(metrics=selectors.metric_list_with_counts(), source="klaviyo")

    def local() -> MetricsAnswer:
        return MetricsAnswer(metrics=selectors.metric_list_with_counts(), source="local")

    return klaviyo_first("metrics", metric_ids_fetch, apply, local)


# --- GET /events/count and /events/emails -------------------------------------------------------


def _day_answer(*, metric: str, day: date, tz: ZoneInfo) -> DayAnswer:
    """The local answer's frame: the day's bounds in UTC and the metric's id if known."""
    start, end = selectors.day_bounds(day=day, tz=tz)
    return DayAnswer(
        metric=metric,
        date=day,
        timezone=tz.key,
        start=start,
        end=end,
        klaviyo_metric_id=selectors.metric_klaviyo_id(name=metric),
        source="local",
    )


def _metric_id_resolve(
    client: KlaviyoClient, deadline: Deadline, *, name: str, known_id: str | None
) -> tuple[str, dict[str, str] | None]:
    """The metric's Klaviyo id and, when it had to be looked up, the whole fresh map."""
    if known_id:
        return known_id, None
    ids_by_name = metric_ids_fetch(client, deadline)
    if name not in ids_by_name:
        raise NotInKlaviyo(f"metric {name!r} is not in Klaviyo")
    return ids_by_name[name], ids_by_name


def _events_pages(
    client: KlaviyoClient, deadline: Deadline, *, too_many: str, **filters: Any
) -> Iterator[tuple[list[dict[str, Any]], Any]]:
    """Every page of GET /api/events that `filters` select, Klaviyo's largest pages, each
    (events, included); NotInKlaviyo past MAX_EVENT_PAGES pages (`too_many` says of what)."""
    cursor: str | None = None
    for _page in range(MAX_EVENT_PAGES):
        deadline.check()
        events, included, cursor = klaviyo_call(
            "events_list",
            lambda cursor=cursor: client.events_list(
                page_cursor=cursor, page_size=MAX_EVENTS_PAGE, **filters
            ),
        )
        yield events, included
        if not cursor:
            return
    raise NotInKlaviyo(f"more than {MAX_EVENT_PAGES * MAX_EVENTS_PAGE} {too_many}")


def metric_day_count_read(*, metric: str, day: date, tz: ZoneInfo) -> DayAnswer:
    """How many `metric` events happened on `day` in `tz`: Klaviyo's metric aggregate, else a
    count of the local events. Klaviyo's answer is cached READS_KLAVIYO_CACHE_SECONDS: the
    aggregates endpoint allows 3 calls a second and 60 a minute per account."""
    answer = _day_answer(metric=metric, day=day, tz=tz)
    start, end, known_id = answer.start, answer.end, answer.klaviyo_metric_id

    def fetch(client: KlaviyoClient, deadline: Deadline) -> tuple[str, int, dict | None]:
        if tz.key in AGGREGATE_UNSUPPORTED_ZONES:
            raise NotInKlaviyo(f"Klaviyo's aggregates don't support the time zone {tz.key}")
        metric_id, fresh_ids = _metric_id_resolve(client, deadline, name=metric, known_id=known_id)
        cache_key = AGGREGATE_KEY.format(metric_id=metric_id, day=day.isoformat(), tz=tz.key)
        cached = cache_get(cache_key)
        if cached is not None:
            return metric_id, cached, fresh_ids
        deadline.check()
        aggregate = klaviyo_call(
            "metric_aggregate",
            lambda: client.metric_aggregate(
                metric_id=metric_id, start=start, end=end, timezone=tz.key, interval="day"
            ),
        )
        count = _aggregate_count(aggregate)
        if settings.READS_KLAVIYO_CACHE_SECONDS:
            cache_set(cache_key, count, seconds=settings.READS_KLAVIYO_CACHE_SECONDS)
        return metric_id, count, fresh_ids

    def apply(fetched: tuple[str, int, dict | None]) -> DayAnswer:
        metric_id, count, fresh_ids = fetched
        if fresh_ids:
            metric_ids_store(ids_by_name=fresh_ids)
        return replace(answer, klaviyo_metric_id=metric_id, count=count, source="klaviyo")

    def local() -> DayAnswer:
        count = selectors.event_count_in_window(event_name=metric, start=start, end=end)
        return replace(answer, count=count)

    return klaviyo_first("count", fetch, apply, local)


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
    answer = _day_answer(metric=metric, day=day, tz=tz)
    start, end, known_id = answer.start, answer.end, answer.klaviyo_metric_id

    def fetch(client: KlaviyoClient, deadline: Deadline) -> tuple[str, dict[str, str], dict | None]:
        metric_id, fresh_ids = _metric_id_resolve(client, deadline, name=metric, known_id=known_id)
        profile_ids_by_email: dict[str, str] = {}
        pages = _events_pages(
            client,
            deadline,
            too_many="events that day",
            metric_id=metric_id,
            since=start,
            until=end,
            include_profile=True,
        )
        for events, included in pages:
            profiles = resources_by_id(included, "profile")
            for event in events:
                profile_id = related_id(event, "profile")
                email = (profiles.get(profile_id) or {}).get("attributes", {}).get("email")
                if email:
                    profile_ids_by_email[email.strip().lower()] = profile_id
        return metric_id, profile_ids_by_email, fresh_ids

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
            next_after=page[-1] if len(emails) > limit else None,
            source="klaviyo",
        )

    def local() -> DayAnswer:
        # One more than asked tells whether there is a next page.
        emails = selectors.event_emails_in_window(
            event_name=metric, start=start, end=end, after=after, limit=limit + 1
        )
        page = emails[:limit]
        return replace(
            answer,
            emails=page,
            next_after=page[-1] if len(emails) > limit else None,
        )

    return klaviyo_first("emails", fetch, apply, local)


# --- GET /events/profiles/{email}/... -----------------------------------------------------------


def _profile_fetch(client: KlaviyoClient, deadline: Deadline, *, email: str) -> dict[str, Any]:
    deadline.check()
    resource = klaviyo_call("profile_get", lambda: client.profile_get_by_email(email=email))
    if resource is None:
        raise NotInKlaviyo("profile is not in Klaviyo")
    return resource


def profile_attributes_read(*, email: str) -> ProfileAttributesAnswer | None:
    """The profile's attributes from Klaviyo, else the local copy; None when neither has it."""
    profile = selectors.profile_get_by_email(email=email)

    def fetch(client: KlaviyoClient, deadline: Deadline) -> dict[str, Any]:
        return _profile_fetch(client, deadline, email=email)

    def apply(resource: dict[str, Any]) -> ProfileAttributesAnswer:
        attributes = profile_attributes_ours(resource)
        profile_klaviyo_store(profile=profile, klaviyo_id=resource["id"], attributes=attributes)
        return ProfileAttributesAnswer(
            email=email, attributes=attributes, klaviyo_id=resource["id"], source="klaviyo"
        )

    def local() -> ProfileAttributesAnswer | None:
        if profile is None:
            return None
        return ProfileAttributesAnswer(
            email=email,
            attributes=profile.attributes,
            klaviyo_id=profile.klaviyo_id,
            source="local",
        )

    return klaviyo_first("profile attributes", fetch, apply, local)


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
        pages = _events_pages(
            client, deadline, too_many="events of the profile", profile_id=profile_id
        )
        for events, _included in pages:
            for event in events:
                metric_id = related_id(event, "metric")
                if metric_id is None:
                    continue  # Klaviyo lists events whose metric it can't resolve
                moment = _event_time(event)
                row = summaries.setdefault(metric_id, [0, moment, moment])
                row[0] += 1
                row[1], row[2] = min(row[1], moment), max(row[2], moment)
        unknown = summaries.keys() - names_by_id.keys()
        fresh_ids = metric_ids_fetch(client, deadline) if unknown else None
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
                if metric_id in names  # Klaviyo listed no name for it: nothing to call it
            ),
            key=lambda summary: summary.metric,
        )
        profile_klaviyo_store(profile=profile, klaviyo_id=profile_id)
        return ProfileMetricsAnswer(
            email=email, metrics=metrics, klaviyo_id=profile_id, source="klaviyo"
        )

    def local() -> ProfileMetricsAnswer | None:
        if profile is None:
            return None
        return ProfileMetricsAnswer(
            email=email,
            metrics=selectors.profile_metric_summaries(email=email),
            klaviyo_id=profile.klaviyo_id,
            source="local",
        )

    return klaviyo_first("profile metrics", fetch, apply, local)
