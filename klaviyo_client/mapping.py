"""Our events and profiles as Klaviyo's JSON:API bodies (revision 2026-07-15), and the checks of
what Klaviyo would reject, so such a row fails with a clear reason instead of a 400 later.

Profiles are mapped in profiles.py.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any
from uuid import UUID

from django.utils import timezone

from klaviyo_client.limits import (
    EARLIEST_EVENT_TIME,
    LATEST_EVENT_AHEAD,
    MAX_ARRAY_ITEMS,
    MAX_EVENT_BYTES,
    MAX_EVENT_PROPERTIES,
    MAX_METRIC_NAME,
    MAX_NESTING,
    MAX_STRING_BYTES,
)
from klaviyo_client.names import NUMERIC_LOCATION

# Klaviyo takes phone numbers in E.164 only (spec: phone_number). Checked with fullmatch: `$`
# alone also matches before a final newline, and `\d` any Unicode digit ("+1500555000\u0666");
# the pattern itself is also the OpenAPI document's (ECMAScript: ASCII digits, no such `$`).
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")

SENT_MESSAGE = "Successfully sent to Klaviyo"

# The envelope of a bulk request; groups (one profile and its events) go between the halves.
BULK_HEAD = b'{"data":{"type":"event-bulk-create-job","attributes":{"events-bulk-create":{"data":['
BULK_TAIL = b"]}}}}"
GROUP_HEAD = b'{"type":"event-bulk-create","attributes":{"profile":{"data":'
GROUP_MIDDLE = b'},"events":{"data":['
GROUP_TAIL = b"]}}}"


class NotSendable(ValueError):
    """A value Klaviyo would reject; the message says which and why."""


# One encoder for every body, CPython's C encoder made once with the options of
# json.dumps(separators=(",", ":"), ensure_ascii=False, allow_nan=False, check_circular=False):
# json.dumps and JSONEncoder.encode make one per call, a third of the 7.8 us a profile
# resource took (5.3 us here; a bulk import job encodes 10,000). Our values come from JSON: no
# cycles to look for (markers None). Arguments in the order JSONEncoder.iterencode passes them.
_ENCODE = c_make_encoder(
    None, json.JSONEncoder().default, encode_basestring, None, ":", ",", False, False, False
)


def dumps(value: Any) -> bytes:
    try:
        text = "".join(_ENCODE(value, 0))
    except ValueError as error:  # NaN or Infinity somewhere
        raise NotSendable(f"holds a number Klaviyo cannot take: {error}") from None
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate, from a "\ud800" escape in the client's JSON
        raise NotSendable("holds text that is not valid Unicode") from None


def _text(value: Any, name: str) -> str:
    """A standard string attribute; numbers become their text, other types are rejected."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise NotSendable(f"profileAttributes.{name} must be a finite number or a string")
        return str(value)
    raise NotSendable(f"profileAttributes.{name} must be a string, not {type(value).__name__}")


def _location_value(key: str, value: Any, path: str) -> Any:
    if key in NUMERIC_LOCATION and isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise NotSendable(f"profileAttributes.{path} must be a finite number")
        return value
    return _text(value, path)


def event_attributes(*, event_row: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """The `attributes` of a Klaviyo event (without its profile) from an Event row's values
    (event_name, event_attributes, time, value, value_currency, unique_id, id). Raises
    NotSendable."""
    name = event_row["event_name"]
    if not name or len(name) > MAX_METRIC_NAME:
        raise NotSendable(f"eventName must be 1 to {MAX_METRIC_NAME} characters for Klaviyo")
    properties = event_row.get("event_attributes") or {}
    if not isinstance(properties, dict):
        raise NotSendable("eventAttributes must be an object")
    if len(properties) > MAX_EVENT_PROPERTIES:
        raise NotSendable(f"eventAttributes has over {MAX_EVENT_PROPERTIES} properties")
    if problem := _size_problem(properties, depth=1):
        raise NotSendable(f"eventAttributes: {problem}")
    time: datetime = event_row["time"]
    now = now or timezone.now()
    if not EARLIEST_EVENT_TIME <= time <= now + LATEST_EVENT_AHEAD:
        raise NotSendable("time must be after 2000 and at most a year ahead for Klaviyo")
    attributes: dict[str, Any] = {
        "properties": properties,
        "time": time.astimezone(UTC).isoformat(),
        "unique_id": event_row.get("unique_id") or str(event_row["id"]),
        "metric": {"data": {"type": "metric", "attributes": {"name": name}}},
    }
    value = event_row.get("value")
    if value is not None:
        if not math.isfinite(value):
            raise NotSendable("value must be a finite number")
        attributes["value"] = value
    if currency := event_row.get("value_currency"):
        attributes["value_currency"] = currency  # ISO 4217, checked at ingest
    return attributes


def event_resource(
    *, event_row: dict[str, Any], profile: dict[str, Any], now: datetime | None = None
) -> dict[str, Any]:
    """The body `data` of POST /api/events: one event with its profile resource."""
    return event_with_profile(
        attributes=event_attributes(event_row=event_row, now=now), profile=profile
    )


def event_with_profile(*, attributes: dict[str, Any], profile: dict[str, Any]) -> dict[str, Any]:
    """The body `data` of POST /api/events from an event's `attributes` (event_attributes) and
    its profile resource (profile_resource): the one place that body is put together."""
    resource = {"type": "event", "attributes": {**attributes, "profile": {"data": profile}}}
    if len(dumps(resource)) > MAX_EVENT_BYTES:
        raise NotSendable("the event is over Klaviyo's 5 MB limit")
    return resource


def _string_too_long(value: str) -> bool:
    """Past the cheap first test (a character is at most 4 bytes in UTF-8), the real size."""
    return len(value.encode()) > MAX_STRING_BYTES


STRING_TOO_LONG = "a string is over Klaviyo's 100 KB limit"


def encoded_size_problem(body: bytes, value: Any) -> str | None:
    """The size problem of `value` (at depth 0) inside `body`, its JSON within one wrapping
    object (a resource): a body this short with this few brackets can't hold one, checked at
    C speed (a string over 100 KB takes as many bytes, an array over 4,000 items twice as
    many, a container 10 levels down 12 brackets), else the walk of the value decides."""
    if len(body) <= 2 * MAX_ARRAY_ITEMS and body.count(b"{") + body.count(b"[") <= MAX_NESTING + 2:
        return None
    return _size_problem(value, depth=0)


def _size_problem(value: Any, *, depth: int) -> str | None:
    if isinstance(value, str):
        too_long = len(value) * 4 > MAX_STRING_BYTES and _string_too_long(value)
        return STRING_TOO_LONG if too_long else None
    if isinstance(value, (dict, list)):
        if depth > MAX_NESTING:
            return f"nested deeper than Klaviyo's {MAX_NESTING} levels"
        if isinstance(value, list) and len(value) > MAX_ARRAY_ITEMS:
            return f"an array has over Klaviyo's {MAX_ARRAY_ITEMS} items"
        # Leaves checked here, not each in a call of its own: this runs for every profile sent.
        for child in value.values() if isinstance(value, dict) else value:
            if isinstance(child, str):
                if len(child) * 4 > MAX_STRING_BYTES and _string_too_long(child):
                    return STRING_TOO_LONG
            elif isinstance(child, (dict, list)) and (
                problem := _size_problem(child, depth=depth + 1)
            ):
                return problem
    return None


@dataclass
class BulkRequest:
    """One body for POST /api/event-bulk-create-jobs and which event is where in it:
    `groups[i][j]` is the id of `events-bulk-create.data[i]...events.data[j]`."""

    body: bytes
    groups: list[list[UUID]]

    @property
    def event_ids(self) -> list[UUID]:
        return [event_id for group in self.groups for event_id in group]


@dataclass
class _Pending:
    groups: list[tuple[bytes, list[bytes], list[UUID]]] = field(default_factory=list)
    size: int = len(BULK_HEAD) + len(BULK_TAIL)
    count: int = 0
    unique_ids: set[str] = field(default_factory=set)


def bulk_requests(
    *,
    items: Iterable[tuple[UUID, str, bytes, bytes]],
    max_events: int,
    max_bytes: int,
) -> list[BulkRequest]:
    """Packs (event id, dedup key, profile JSON, event JSON) items, grouped by profile in the
    order given, into bulk bodies of at most max_events events and max_bytes bytes.

    A dedup key (the caller's: metric and unique_id) never repeats within one body: Klaviyo
    fails a whole bulk request that repeats a unique_id for a profile and metric. An item too
    big for any body must be left out by the caller (see `bulk_item_fits`).
    """
    requests: list[BulkRequest] = []
    current = _Pending()
    last_profile: bytes | None = None

    def flush() -> None:
        nonlocal current, last_profile
        if current.count:
            parts = [
                GROUP_HEAD + profile + GROUP_MIDDLE + b",".join(events) + GROUP_TAIL
                for profile, events, _ in current.groups
            ]
            requests.append(
                BulkRequest(
                    body=BULK_HEAD + b",".join(parts) + BULK_TAIL,
                    groups=[ids for _, _, ids in current.groups],
                )
            )
        current = _Pending()
        last_profile = None

    for event_id, unique_id, profile, event in items:
        same_group = profile == last_profile
        extra = len(event) + 1
        if not same_group:
            extra += len(GROUP_HEAD) + len(profile) + len(GROUP_MIDDLE) + len(GROUP_TAIL) + 1
        if (
            current.count >= max_events
            or current.size + extra > max_bytes
            or unique_id in current.unique_ids
        ):
            flush()
            same_group = False
            extra = len(event) + len(GROUP_HEAD) + len(profile) + len(GROUP_MIDDLE)
            extra += len(GROUP_TAIL) + 2
        if same_group:
            current.groups[-1][1].append(event)
            current.groups[-1][2].append(event_id)
        else:
            current.groups.append((profile, [event], [event_id]))
            last_profile = profile
        current.size += extra
        current.count += 1
        current.unique_ids.add(unique_id)
    flush()
    return requests


def bulk_item_fits(*, profile: bytes, event: bytes, max_bytes: int) -> bool:
    overhead = len(BULK_HEAD) + len(BULK_TAIL) + len(GROUP_HEAD) + len(GROUP_MIDDLE)
    return overhead + len(GROUP_TAIL) + len(profile) + len(event) <= max_bytes


BULK_POINTER = re.compile(
    r"^/data/attributes/events-bulk-create/data/(\d+)"
    r"(?:/attributes/(?:(profile)|events(?:/data/(\d+))?))?"
)


def bulk_error_targets(
    *, request: BulkRequest, errors: list[dict[str, Any]]
) -> tuple[dict[UUID, str], set[int]]:
    """Which events of a rejected bulk request Klaviyo's errors point at: ({event id: error
    text}, indexes of the groups whose profile was rejected). Errors that point at no item
    are left out; the caller decides what a rejection without a culprit means."""
    culprits: dict[UUID, str] = {}
    bad_profiles: set[int] = set()
    for error in errors:
        pointer = (error.get("source") or {}).get("pointer") or ""
        match = BULK_POINTER.match(pointer)
        if not match:
            continue
        group = int(match.group(1))
        if group >= len(request.groups):
            continue
        text = " ".join(str(error[k]) for k in ("title", "detail") if error.get(k)).strip()
        text = f"{text} ({pointer})" if text else pointer
        if match.group(3) is not None:
            index = int(match.group(3))
            targets = request.groups[group][index : index + 1]
        else:
            targets = request.groups[group]
            if match.group(2):
                bad_profiles.add(group)
        for event_id in targets:
            culprits[event_id] = f"{culprits[event_id]}; {text}" if event_id in culprits else text
    return culprits, bad_profiles
