"""How a batch of claimed events goes to Klaviyo: one POST /api/events per event for small
batches, bulk jobs (up to 1,000 events and 5 MB each, grouped by profile) for the rest. Each
event's outcome is noted in `SendResults`; services.py writes them to the rows. What Klaviyo
accepted is written at once, before the next request: a batch interrupted later (a killed
worker, a lost database) is sent again only for what Klaviyo may not have. No request starts
that could not end within the batch's lease (lease.py): the rest is given back, queued again.

Why two ways: the endpoints have separate quotas. A batch of n events costs n/3,500 of a
minute's single-event quota, or 1/150 of the bulk quota whatever n. Under about 24 events
(3,500 / 150) the single calls take the smaller share, answer per event and leave the bulk
quota to backlogs; above it, bulk jobs do (1,000 events a call: up to 150,000 events/min).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from django.conf import settings

from events.merge_patch import json_patches_combine
from events.models import Profile
from klaviyo_client import mapping
from klaviyo_client import profiles as profile_mapping
from klaviyo_client.client import KlaviyoClient
from klaviyo_client.errors import KlaviyoError
from klaviyo_sync.lease import SendClock

logger = logging.getLogger(__name__)

# Rejections of a whole bulk request that per-event sends can pin on the culprits.
ITEM_REJECTION_STATUSES = frozenset({400, 413, 422})
# Rounds of dropping the culprits a rejected bulk request names before sending one by one.
MAX_BULK_ROUNDS = 3
PROFILE_FIELDS = ("id", "email", "phone_number", "external_id", "attributes")  # JSON last


class SendResults:
    """What happened to each claimed event, written to the rows in a few grouped UPDATEs."""

    def __init__(
        self,
        rows: dict[UUID, dict[str, Any]],
        *,
        clock: SendClock | None = None,
        on_accepted: Callable[[list[UUID]], None] | None = None,
    ) -> None:
        self.rows = rows
        self.clock = clock
        # Writes Klaviyo's acceptance to the rows at once (services.py).
        self.on_accepted = on_accepted
        self.sent: list[UUID] = []
        self.failed: dict[UUID, tuple[str, str | None]] = {}  # id -> (last_error, response)
        self.retry: dict[UUID, KlaviyoError] = {}
        self.deferred: dict[UUID, float] = {}  # not attempted: id -> seconds to wait
        self.bad_profiles: dict[int, str] = {}

    def accepted(self, event_ids: list[UUID]) -> None:
        """Klaviyo took these (202): recorded on their rows before anything else is sent."""
        self.sent.extend(event_ids)
        if self.on_accepted is not None:
            self.on_accepted(event_ids)

    def room_for_a_request(self, client: KlaviyoClient) -> bool:
        """Whether one more request can end within the lease; if so, the client's wait for
        the rate limiter is cut to what the lease leaves."""
        if self.clock is None:
            return True
        wait = self.clock.rate_limit_wait_allowed()
        if wait is None:
            return False
        client.rate_limit_max_wait = wait
        return True

    def give_back(self, event_ids: Iterable[UUID]) -> None:
        """Not attempted, out of lease time: queued again at once, under a new claim."""
        for event_id in event_ids:
            self.deferred[event_id] = 0.0

    def fail(self, event_ids: Iterable[UUID], error: KlaviyoError | str) -> None:
        for event_id in event_ids:
            if isinstance(error, KlaviyoError):
                self.failed[event_id] = (error.summary, error.summary)
            else:
                self.failed[event_id] = (error, None)

    def klaviyo_failed(self, error: KlaviyoError, event_ids: Iterable[UUID]) -> None:
        """Klaviyo (or the way to it) failed: retry what may succeed later, fail the rest."""
        event_ids = list(event_ids)
        if error.local:
            for event_id in event_ids:
                self.deferred[event_id] = error.retry_after or 1.0
        elif error.retryable:
            for event_id in event_ids:
                self.retry[event_id] = error
        else:
            self.fail(event_ids, error)


def profile_changes(rows: Iterable[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Per profile, the profile attributes its events carried, merged in the order they were
    stored (created_at): what these events tell Klaviyo about their profile, nulls included."""
    changes: dict[int, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda row: row["created_at"]):
        if carried := row.get("profile_attributes"):
            profile_id = row["profile_id"]
            changes[profile_id] = json_patches_combine(changes.get(profile_id, {}), carried)
    return changes


def _profile_resources(
    rows: Iterable[dict[str, Any]], profile_rows: Iterable[dict[str, Any]], results: SendResults
) -> dict[int, dict[str, Any]]:
    """The profile resource each profile's events carry: the identifiers and the changes of
    those events only, so that an edit made in Klaviyo meanwhile is not overwritten."""
    changes = profile_changes(rows)
    resources: dict[int, dict[str, Any]] = {}
    for profile_row in profile_rows:
        profile_id = profile_row["id"]
        try:
            resources[profile_id] = profile_mapping.profile_resource(
                profile_row=profile_row, changes=changes.get(profile_id, {})
            )
        except mapping.NotSendable as problem:
            results.bad_profiles[profile_id] = f"Not sent: {problem}"
    return resources


def batch_send(
    client: KlaviyoClient,
    *,
    rows: dict[UUID, dict[str, Any]],
    profile_rows: Iterable[dict[str, Any]],
    results: SendResults,
    now: datetime,
) -> None:
    """Sends the claimed event rows with their profiles; notes each outcome in `results`.
    What Klaviyo would reject fails here with the reason, without a call."""
    profiles = _profile_resources(rows.values(), profile_rows, results)
    sendable: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for event_id, row in rows.items():
        if row["profile_id"] in results.bad_profiles:
            results.fail([event_id], results.bad_profiles[row["profile_id"]])
            continue
        try:
            attributes = mapping.event_attributes(event_row=row, now=now)
        except mapping.NotSendable as problem:
            results.fail([event_id], f"Not sent: {problem}")
            continue
        sendable.append((row, attributes))
    if len(sendable) < settings.KLAVIYO_BULK_MIN_EVENTS:
        _send_one_by_one(client, sendable, profiles=profiles, results=results)
    else:
        _send_in_bulk(client, sendable, profiles=profiles, results=results)


def _send_one_by_one(
    client: KlaviyoClient,
    sendable: list[tuple[dict[str, Any], dict[str, Any]]],
    *,
    profiles: dict[int, dict[str, Any]],
    results: SendResults,
) -> None:
    for position, (row, attributes) in enumerate(sendable):
        if not results.room_for_a_request(client):
            results.give_back(later["id"] for later, _ in sendable[position:])
            return
        try:
            resource = event_create_data(
                row, profiles[row["profile_id"]], revision=client.revision, attributes=attributes
            )
        except mapping.NotSendable as problem:
            results.fail([row["id"]], f"Not sent: {problem}")
            continue
        try:
            client.event_create(data=resource, attempt=row["attempts"])
        except KlaviyoError as error:
            if error.retryable or error.local:
                # Klaviyo is down or throttling: the rest of the batch waits with this one.
                rest = [later["id"] for later, _ in sendable[position:]]
                results.klaviyo_failed(error, rest)
                return
            _pin_profile_error(error, row, results)
            results.klaviyo_failed(error, [row["id"]])
            continue
        results.accepted([row["id"]])


def event_create_data(
    row: dict[str, Any],
    profile: dict[str, Any],
    *,
    revision: str,
    attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The `data` of POST /api/events for one event row and its profile resource, as an event
    carries it: the one place that body is put together, for the sender and for the admin's
    event page (payloads.py). Raises NotSendable."""
    if attributes is None:
        attributes = mapping.event_attributes(event_row=row)
    return mapping.event_with_profile(
        attributes=attributes, profile=profile_mapping.event_profile(profile, revision=revision)
    )


def _pin_profile_error(error: KlaviyoError, row: dict[str, Any], results: SendResults) -> None:
    for item in error.errors:
        pointer = (item.get("source") or {}).get("pointer") or ""
        if pointer.startswith("/data/attributes/profile"):
            results.bad_profiles[row["profile_id"]] = error.summary


def _send_in_bulk(
    client: KlaviyoClient,
    sendable: list[tuple[dict[str, Any], dict[str, Any]]],
    *,
    profiles: dict[int, dict[str, Any]],
    results: SendResults,
) -> None:
    profile_json: dict[int, bytes] = {}
    items: dict[UUID, tuple[UUID, str, bytes, bytes]] = {}
    # Grouped by profile: one group per profile in each bulk body.
    for row, attributes in sorted(
        sendable, key=lambda pair: (pair[0]["profile_id"], pair[0]["time"])
    ):
        profile_id = row["profile_id"]
        if profile_id not in profile_json:
            profile_json[profile_id] = mapping.dumps(profiles[profile_id])
        event = mapping.dumps({"type": "event", "attributes": attributes})
        if not mapping.bulk_item_fits(
            profile=profile_json[profile_id],
            event=event,
            max_bytes=settings.KLAVIYO_BULK_MAX_BYTES,
        ):
            results.fail([row["id"]], "Not sent: the event is over Klaviyo's 5 MB limit")
            continue
        # Keyed by metric too: Klaviyo fails a bulk request that repeats a unique_id for one
        # profile and metric, while an order id shared by Placed and Fulfilled Order may share
        # a body. (Not by our profile: two of ours may be one profile in Klaviyo.)
        key = f"{row['event_name']}\n{attributes['unique_id']}"
        items[row["id"]] = (row["id"], key, profile_json[profile_id], event)
    requests = _pack(items.values())
    for index, request in enumerate(requests):
        if not results.room_for_a_request(client):
            results.give_back(
                event_id for other in requests[index:] for event_id in other.event_ids
            )
            return
        stop = _send_bulk_request(client, request, items=items, results=results)
        if stop is not None:
            # Klaviyo is down or throttling: the other bodies wait with this one.
            later = [event_id for other in requests[index + 1 :] for event_id in other.event_ids]
            results.klaviyo_failed(stop, later)
            return


def _pack(items: Iterable[tuple[UUID, str, bytes, bytes]]) -> list[mapping.BulkRequest]:
    return mapping.bulk_requests(
        items=items,
        max_events=settings.KLAVIYO_BULK_BATCH_SIZE,
        max_bytes=settings.KLAVIYO_BULK_MAX_BYTES,
    )


def _send_bulk_request(
    client: KlaviyoClient,
    request: mapping.BulkRequest,
    *,
    items: dict[UUID, tuple[UUID, str, bytes, bytes]],
    results: SendResults,
) -> KlaviyoError | None:
    """Sends one bulk body; on a rejection naming culprits, fails those and sends the rest
    again. Returns the error when Klaviyo can take nothing more now (down, throttling)."""
    for round_number in range(MAX_BULK_ROUNDS):
        if round_number and not results.room_for_a_request(client):
            results.give_back(request.event_ids)
            return None
        attempt = max(results.rows[event_id]["attempts"] for event_id in request.event_ids)
        try:
            client.event_bulk_create_job(body=request.body, attempt=attempt)
        except KlaviyoError as error:
            if error.retryable or error.local:
                results.klaviyo_failed(error, request.event_ids)
                return error
            if error.status not in ITEM_REJECTION_STATUSES:
                results.klaviyo_failed(error, request.event_ids)
                return None
            culprits, bad_groups = mapping.bulk_error_targets(request=request, errors=error.errors)
            if not culprits:
                break  # rejected without naming an event: find them one by one
            for event_id, text in culprits.items():
                results.fail([event_id], f"HTTP {error.status}: {text}")
            for group in bad_groups:
                profile_id = results.rows[request.groups[group][0]]["profile_id"]
                results.bad_profiles[profile_id] = f"HTTP {error.status}: {error.detail}"
            rest = [items[event_id] for event_id in request.event_ids if event_id not in culprits]
            if not rest:
                return None
            request = _pack(rest)[0]  # fewer items than before: always one body
            continue
        # Event bulk jobs answer 202 with no body in this revision: there is no job id to
        # keep or poll (NOTES.md 3.2; the spec has no GET for event-bulk-create-jobs).
        results.accepted(request.event_ids)
        return None
    _send_one_by_one_after_rejection(client, request, results=results)
    return None


def _send_one_by_one_after_rejection(
    client: KlaviyoClient, request: mapping.BulkRequest, *, results: SendResults
) -> None:
    logger.warning(
        "Klaviyo rejected a bulk request of %d events without naming the bad ones; "
        "sending them one by one",
        len(request.event_ids),
    )
    rows = [results.rows[event_id] for event_id in request.event_ids]
    profile_rows = Profile.objects.filter(id__in={row["profile_id"] for row in rows}).values(
        *PROFILE_FIELDS
    )
    profiles = _profile_resources(rows, profile_rows, results)
    sendable = []
    for row in rows:
        if row["profile_id"] in results.bad_profiles:
            results.fail([row["id"]], results.bad_profiles[row["profile_id"]])
            continue
        sendable.append((row, mapping.event_attributes(event_row=row)))
    _send_one_by_one(client, sendable, profiles=profiles, results=results)
