"""Endpoints that read what the emulator received: metrics, events, metric aggregates,
accounts and profile import jobs (profiles: profile_reads.py)."""

import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from werkzeug.wrappers import Response

from klaviyo_emulator.context import HandlerContext
from klaviyo_emulator.filters import as_aware, compare, filter_parse
from klaviyo_emulator.jsonapi import (
    ApiError,
    collection_links,
    decode_cursor,
    document,
    error_item,
    page_size,
)
from klaviyo_emulator.resources import (
    account_resource,
    event_resource,
    import_job_resource,
    metric_resource,
    profile_resource,
)
from klaviyo_emulator.store import API_INTEGRATION, StoredEvent, now_utc
from klaviyo_emulator.writes import job_not_found

RANGE = {"greater-or-equal", "greater-than", "less-or-equal", "less-than"}
EVENT_FILTERS = {
    "metric_id": {"equals"},
    "profile_id": {"equals"},
    "profile": {"has"},
    "metric": {"has"},
    "datetime": RANGE,
    "timestamp": RANGE,
}
METRIC_FILTERS = {"integration.name": {"equals"}, "integration.category": {"equals"}}
# Klaviyo does not serve these zones for aggregates.
UNSUPPORTED_ZONES = {"Factory", "Europe/Kyiv", "Pacific/Kanton"}


def _list_param(ctx: HandlerContext, name: str) -> list[str]:
    raw = ctx.request.args.get(name) or ""
    return [part.strip() for part in raw.split(",") if part.strip()]


def page_of(ctx: HandlerContext, items: list[Any], *, default: int, maximum: int):
    offset = decode_cursor(ctx.request.args.get("page[cursor]"))
    size = page_size(ctx.request, default=default, maximum=maximum)
    links = collection_links(ctx.request, offset=offset, size=size, total=len(items))
    return items[offset : offset + size], links


# --- metrics ------------------------------------------------------------------------------


def get_metrics(ctx: HandlerContext) -> Response:
    conditions = filter_parse(ctx.request.args.get("filter"), allowed=METRIC_FILTERS)
    before = written_before(ctx)
    with ctx.store.lock:
        metrics = sorted(
            (m for m in ctx.store.metrics.values() if not before or m.created <= before),
            key=lambda m: (m.created, m.id),
        )
    field_of = {
        "integration.name": API_INTEGRATION["name"],
        "integration.category": API_INTEGRATION["category"],
    }
    if any(field_of[c.field] != c.value for c in conditions):
        metrics = []
    offset = decode_cursor(ctx.request.args.get("page[cursor]"))
    links = collection_links(ctx.request, offset=offset, size=200, total=len(metrics))
    page = metrics[offset : offset + 200]
    return document({"data": [metric_resource(ctx.request, m) for m in page], "links": links})


def get_metric(ctx: HandlerContext) -> Response:
    metric = ctx.store.metrics.get(ctx.args["id"])
    if metric is None:
        raise ApiError.one(404, f"Metric {ctx.args['id']} was not found.", parameter="id")
    links = {"self": f"{ctx.request.base_url}"}
    return document({"data": metric_resource(ctx.request, metric), "links": links})


# --- events -------------------------------------------------------------------------------


def _event_value(event: StoredEvent, field: str) -> Any:
    if field == "datetime":
        return event.time
    if field == "timestamp":
        return int(event.time.timestamp())
    return {"metric_id": event.metric_id, "profile_id": event.profile_id}.get(field)


def _candidates(ctx: HandlerContext, checks: list[tuple[str, str, Any]]) -> list[StoredEvent]:
    """The stored events a filter can match: those of its metric or profile when it names one."""
    for operator, field, value in checks:
        if operator == "equals" and field == "metric_id":
            return ctx.store.events_by_metric.get(value, [])
        if operator == "equals" and field == "profile_id":
            return ctx.store.events_by_profile.get(value, [])
    return ctx.store.events


def written_before(ctx: HandlerContext) -> datetime | None:
    """With a read lag, reads see only what was written this long ago (Klaviyo processes
    writes asynchronously); None: everything."""
    lag = ctx.faults.read_lag_ms
    return now_utc() - timedelta(milliseconds=lag) if lag else None


def get_events(ctx: HandlerContext) -> Response:
    conditions = filter_parse(ctx.request.args.get("filter"), allowed=EVENT_FILTERS)
    checks: list[tuple[str, str, Any]] = []
    for condition in conditions:
        if condition.operator == "has":
            continue  # every stored event has its profile and metric
        value = condition.value
        if condition.field == "datetime":
            value = as_aware(value, field="datetime")
        elif condition.field == "timestamp" and not isinstance(value, int | float):
            raise ApiError.one(400, "'timestamp' needs a number.", parameter="filter")
        checks.append((condition.operator, condition.field, value))
    sort = ctx.request.args.get("sort") or "datetime"
    if sort.lstrip("-") not in ("datetime", "timestamp"):
        raise ApiError.one(400, f"'{sort}' is not a valid sort field.", parameter="sort")
    before = written_before(ctx)
    with ctx.store.lock:
        events = [
            event
            for event in _candidates(ctx, checks)
            if all(compare(op, _event_value(event, field), v) for op, field, v in checks)
            and (before is None or event.received_at <= before)
        ]
    events.sort(key=lambda e: e.time, reverse=sort.startswith("-"))
    page, links = page_of(ctx, events, default=200, maximum=1000)
    fields = _list_param(ctx, "fields[event]")
    payload: dict[str, Any] = {
        "data": [event_resource(ctx.request, e, fields=fields) for e in page],
        "links": links,
    }
    include = _list_param(ctx, "include")
    if unknown := set(include) - {"metric", "profile", "attributions"}:
        raise ApiError.one(
            400, f"{sorted(unknown)} are not allowed include values.", parameter="include"
        )
    if include:
        payload["included"] = _included(ctx, page, include)
    return document(payload)


def _included(ctx: HandlerContext, page: list[StoredEvent], include: list[str]) -> list[Any]:
    included: list[Any] = []
    with ctx.store.lock:
        if "metric" in include:
            for metric_id in dict.fromkeys(e.metric_id for e in page):
                included.append(metric_resource(ctx.request, ctx.store.metrics[metric_id]))
        if "profile" in include:
            for profile_id in dict.fromkeys(e.profile_id for e in page):
                included.append(profile_resource(ctx.request, ctx.store.profiles[profile_id]))
    return included


# --- metric aggregates --------------------------------------------------------------------


def _floor(moment: datetime, interval: str) -> datetime:
    moment = moment.replace(minute=0, second=0, microsecond=0)
    if interval == "hour":
        return moment
    moment = moment.replace(hour=0)
    if interval == "week":
        return moment - timedelta(days=moment.weekday())
    if interval == "month":
        return moment.replace(day=1)
    return moment


def _next(moment: datetime, interval: str) -> datetime:
    if interval == "month":
        year, month = divmod(moment.month, 12)
        return moment.replace(year=moment.year + year, month=month + 1)
    step = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
    # Wall-clock arithmetic in the zone, then the offset of the new moment (DST days).
    return (moment.replace(tzinfo=None) + step[interval]).replace(tzinfo=moment.tzinfo)


def query_metric_aggregates(ctx: HandlerContext) -> Response:
    attributes = ctx.body["data"]["attributes"]
    pointer = "/data/attributes"
    metric = ctx.store.metrics.get(attributes["metric_id"])
    if metric is None:
        raise ApiError.one(
            404, f"Metric {attributes['metric_id']} was not found.", pointer=f"{pointer}/metric_id"
        )
    zone_name = attributes.get("timezone") or "UTC"
    try:
        if zone_name in UNSUPPORTED_ZONES:
            raise ZoneInfoNotFoundError(zone_name)
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ApiError.one(
            400, f"Unsupported timezone {zone_name!r}.", pointer=f"{pointer}/timezone"
        ) from error
    start = end = None
    for text in attributes["filter"]:
        for condition in filter_parse(text, allowed={"datetime": RANGE}):
            moment = as_aware(condition.value, field="datetime", tzinfo=zone)
            if condition.operator in ("greater-or-equal", "greater-than"):
                start = moment
            else:
                end = moment
    if start is None or end is None or start >= end:
        raise ApiError(
            400,
            [
                error_item(
                    400,
                    "The filter needs a datetime range: "
                    "greater-or-equal(datetime,...) and "
                    "less-than(datetime,...).",
                    pointer=f"{pointer}/filter",
                )
            ],
        )
    interval = attributes.get("interval") or "day"
    dates: list[datetime] = []
    bucket = _floor(start.astimezone(zone), interval)
    while bucket < end:
        dates.append(bucket)
        bucket = _next(bucket, interval)
    counts = [0] * len(dates)
    sums = [0.0] * len(dates)
    uniques: list[set[str]] = [set() for _ in dates]
    before = written_before(ctx)
    with ctx.store.lock:
        events = [
            e
            for e in ctx.store.events_by_metric.get(metric.id, [])
            if start <= e.time < end and (before is None or e.received_at <= before)
        ]
    for event in events:
        index = _bucket_index(dates, event.time)
        counts[index] += 1
        sums[index] += event.value or 0.0
        uniques[index].add(event.profile_id)
    values = {"count": counts, "sum_value": sums, "unique": [len(u) for u in uniques]}
    measurements = {name: values[name] for name in attributes["measurements"]}
    dimensions = [""] * len(attributes.get("by") or [])
    return document(
        {
            "data": {
                "type": "metric-aggregate",
                "id": str(uuid.uuid4()),
                "attributes": {
                    "dates": [d.isoformat() for d in dates],
                    "data": [{"dimensions": dimensions, "measurements": measurements}],
                },
                "links": {"self": f"{ctx.request.base_url}"},
            },
            "links": {"self": f"{ctx.request.base_url}"},
        }
    )


def _bucket_index(dates: list[datetime], moment: datetime) -> int:
    index = 0
    for position, start in enumerate(dates):
        if start <= moment:
            index = position
        else:
            break
    return index


# --- accounts and import jobs -------------------------------------------------------------


def get_accounts(ctx: HandlerContext) -> Response:
    return document(
        {"data": [account_resource(ctx.request)], "links": {"self": f"{ctx.request.base_url}"}}
    )


def get_bulk_import_profiles_job(ctx: HandlerContext) -> Response:
    job = ctx.store.jobs.get(ctx.args["job_id"])
    if job is None:
        raise job_not_found(ctx.args["job_id"])
    job.imported.wait()
    with ctx.store.lock:
        job.reads += 1
    links = {"self": f"{ctx.request.base_url}"}
    return document({"data": import_job_resource(ctx.request, job), "links": links})


def get_errors_for_bulk_import_profiles_job(ctx: HandlerContext) -> Response:
    job = ctx.store.jobs.get(ctx.args["id"])
    if job is None:
        raise job_not_found(ctx.args["id"])
    job.imported.wait()
    page, links = page_of(ctx, job.errors, default=20, maximum=100)
    data = [
        {
            "type": "import-error",
            "id": error["id"],
            "attributes": {
                "code": error["code"],
                "title": error["title"],
                "detail": error["detail"],
                "source": {"pointer": error["source"].get("pointer", "")},
                "original_payload": error["original_payload"],
            },
            "links": {"self": f"{ctx.request.host_url}api/import-errors/{error['id']}/"},
        }
        for error in page
    ]
    return document({"data": data, "links": links})
