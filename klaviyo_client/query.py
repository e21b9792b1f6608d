"""Klaviyo's query syntax: literals of its `filter` parameter and the cursor of `links.next`."""

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo


def filter_string(value: str) -> str:
    """A string literal in Klaviyo's filter syntax: double-quoted, quotes escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def filter_datetime(value: datetime) -> str:
    """A datetime literal in Klaviyo's filter syntax: UTC ISO-8601, unquoted."""
    if value.tzinfo is None:
        raise ValueError("filter datetimes must be timezone-aware")
    utc = value.astimezone(UTC)
    spec = "microseconds" if utc.microsecond else "seconds"
    return utc.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def aggregate_datetime(value: datetime, zone: str) -> str:
    """A bound of a metric-aggregates range as the spec documents it: the local date-time in
    `zone`, unquoted and without offset (`greater-or-equal(datetime,2026-11-01T00:00:00)` with
    `"timezone": "..."`, MetricAggregateQuery, NOTES.md §3.5). Klaviyo reads the bounds in that
    zone, so a day is its local midnights, 23 or 25 hours long on a DST change."""
    if value.tzinfo is None:
        raise ValueError("aggregate datetimes must be timezone-aware")
    local = value.astimezone(ZoneInfo(zone))
    spec = "microseconds" if local.microsecond else "seconds"
    return local.replace(tzinfo=None).isoformat(timespec=spec)


def cursor_from_link(link: str | None) -> str | None:
    """The `page[cursor]` of a `links.next` URL; None on the last page."""
    if not link:
        return None
    values = parse_qs(urlsplit(link).query).get("page[cursor]")
    return values[0] if values else None
