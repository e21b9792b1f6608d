"""Why events failed or were skipped, as one line per cause: a row's `last_error` without what
differs from event to event (ids, emails, quoted values, positions in a bulk body, attempt
counts), so that a thousand events rejected for the same reason make one group. The sync
stores it beside last_error (Event.failure_reason, indexed with the status); the staff console
shows the groups, admin's event list filters by them, "retry these" sends one again.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from typing import Any

from django.db.models import Count, QuerySet

from events.models import Event, SyncStatus

MAX_REASON = 300  # Event.failure_reason's max_length
MAX_GROUPS = 25
FILL_CHUNK = 2000
FAILURE_STATUSES = (SyncStatus.FAILED, SyncStatus.SKIPPED)

_SUBSTITUTIONS = [
    # UUIDs (event ids, Klaviyo request ids) before numbers, which they contain.
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<id>"),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    # A value quoted in Klaviyo's detail: 'abc' or "abc".
    (re.compile(r"'[^']{1,200}'"), "'…'"),
    (re.compile(r'"[^"]{1,200}"'), '"…"'),
    # JSON pointers into a body: /data/12/attributes -> /data/N/attributes.
    (re.compile(r"/\d+(?=/|\)|$|\s)"), "/N"),
    (re.compile(r"\bafter \d+ attempts\b"), "after N attempts"),
    (re.compile(r"\bretry in [\d.]+s\b"), "retry in Ns"),
    # Long numbers are ids or sizes of this one event; short ones (HTTP 400, 100 KB) say why.
    (re.compile(r"\b\d{5,}\b"), "N"),
]


def failure_reason(last_error: str) -> str:
    """`HTTP 400: 'bob@x' is not a valid email (/data/3/...)` ->
    `HTTP 400: '…' is not a valid email (/data/N/...)`."""
    text = " ".join((last_error or "").split())
    for pattern, replacement in _SUBSTITUTIONS:
        text = pattern.sub(replacement, text)
    text = text or "(no error recorded)"
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def reason_key(reason: str) -> str:
    """A short stable name for a reason, for links and forms."""
    return hashlib.sha256(reason.encode()).hexdigest()[:16]


def failure_groups(*, limit: int = MAX_GROUPS) -> list[dict[str, Any]]:
    """Failed and skipped events by reason, largest first: status, reason, key, count and one
    full error text as an example. Counted on the (sync_status, failure_reason) index."""
    rows = (
        Event.objects.filter(sync_status__in=FAILURE_STATUSES)
        .exclude(failure_reason="")
        .order_by()
        .values_list("sync_status", "failure_reason")
        .annotate(n=Count("id"))
    )
    groups = [
        {"status": status, "reason": reason, "key": reason_key(reason), "count": count}
        for status, reason, count in rows
    ]
    groups.sort(key=lambda group: (-group["count"], group["reason"]))
    for group in groups[:limit]:
        group["example"] = (
            Event.objects.filter(sync_status=group["status"], failure_reason=group["reason"])
            .values_list("last_error", flat=True)
            .first()
        )
    return groups[:limit]


def reason_of_key(*, key: str) -> str | None:
    """The reason whose key this is, among those of failed and skipped events now."""
    reasons = (
        Event.objects.filter(sync_status__in=FAILURE_STATUSES)
        .exclude(failure_reason="")
        .order_by()
        .values_list("failure_reason", flat=True)
        .distinct()
    )
    return next((reason for reason in reasons if reason_key(reason) == key), None)


def failure_reasons_fill(*, events: QuerySet[Any] | None = None, limit: int | None = None) -> int:
    """Gives failed and skipped events without a stored reason theirs, in primary-key chunks:
    rows written by code that sets last_error alone, and (migration 0005) rows older than the
    column. `events` may be a migration's historical manager. Returns the rows changed."""
    rows = (events if events is not None else Event.objects.all()).filter(
        sync_status__in=FAILURE_STATUSES, failure_reason=""
    )
    changed = 0
    last = None
    while limit is None or changed < limit:
        page = rows.order_by("id") if last is None else rows.filter(id__gt=last).order_by("id")
        chunk = list(page.values_list("id", "last_error")[:FILL_CHUNK])
        if not chunk:
            break
        last = chunk[-1][0]
        by_reason: dict[str, list[Any]] = defaultdict(list)
        for event_id, text in chunk:
            by_reason[failure_reason(text)].append(event_id)
        for reason, ids in by_reason.items():
            changed += rows.filter(id__in=ids).update(failure_reason=reason)
    return changed
