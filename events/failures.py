"""Why events failed or were skipped, as one line per cause: a row's `last_error` without what
differs from event to event (ids, emails, quoted values, positions in a bulk body, attempt
counts), so that a thousand events rejected for the same reason make one group. The staff
console shows the groups; admin's event list filters by them; "retry these" sends one again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any

from django.db.models import Count

from events.models import Event, SyncStatus

MAX_REASON = 300
# Distinct error texts read at most (the most frequent first) when grouping or matching.
MAX_ERROR_TEXTS = 5000
MAX_GROUPS = 25
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
    full error text as an example."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for status, text, count in _error_texts(FAILURE_STATUSES):
        reason = failure_reason(text)
        group = groups.setdefault(
            (status, reason),
            {
                "status": status,
                "reason": reason,
                "key": reason_key(reason),
                "count": 0,
                "example": text,
            },
        )
        group["count"] += count
    ordered = sorted(groups.values(), key=lambda group: (-group["count"], group["reason"]))
    return ordered[:limit]


def error_texts_for_reason(*, status: str, key: str) -> list[str]:
    """The exact last_error texts of events in `status` whose reason has this key."""
    return [
        text for _, text, _ in _error_texts((status,)) if reason_key(failure_reason(text)) == key
    ]


def _error_texts(statuses: tuple[str, ...]) -> Iterator[tuple[str, str, int]]:
    rows = (
        Event.objects.filter(sync_status__in=statuses)
        .order_by()
        .values_list("sync_status", "last_error")
        .annotate(n=Count("id"))
        .order_by("-n")[:MAX_ERROR_TEXTS]
    )
    yield from rows
