"""Klaviyo's own data for the /klaviyo endpoints, passed through and shaped camelCase for our
clients: HTTP calls to Klaviyo only, no database.

Each raises KlaviyoNotConfigured without a key and KlaviyoError when Klaviyo fails; the view
turns them into 503 and 502.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings

from klaviyo_client.client import KlaviyoClient, klaviyo_client
from klaviyo_client.errors import KlaviyoError, KlaviyoNotConfigured
from klaviyo_client.names import camel
from klaviyo_client.resources import metric_ids_by_name, related_id

# A read on the request path waits this long at most for the client-side rate limiter.
REQUEST_RATE_LIMIT_WAIT = 2.0


def _client() -> KlaviyoClient:
    client = klaviyo_client(rate_limit_max_wait=REQUEST_RATE_LIMIT_WAIT)
    if client is None:
        raise KlaviyoNotConfigured("KLAVIYO_API_KEY is not configured")
    return client


@dataclass(frozen=True)
class ConnectionCheck:
    connected: bool
    message: str
    revision: str
    latency_ms: float | None


def klaviyo_connection_check() -> ConnectionCheck:
    """Whether Klaviyo accepts our key (GET /api/accounts); never raises."""
    client = klaviyo_client(rate_limit_max_wait=REQUEST_RATE_LIMIT_WAIT)
    revision = settings.KLAVIYO_REVISION
    if client is None:
        return ConnectionCheck(False, "KLAVIYO_API_KEY is not configured", revision, None)
    started = time.monotonic()
    try:
        account = client.account_check()
    except KlaviyoError as error:
        latency = None if error.local else round((time.monotonic() - started) * 1000, 1)
        return ConnectionCheck(False, f"Klaviyo refused: {error.summary}", revision, latency)
    latency = round((time.monotonic() - started) * 1000, 1)
    contact = (account.get("attributes") or {}).get("contact_information") or {}
    organization = contact.get("organization_name") if isinstance(contact, dict) else None
    who = f" (account {organization or account.get('id') or 'unknown'})"
    return ConnectionCheck(True, f"Connected to Klaviyo{who}", revision, latency)


def klaviyo_metrics_list() -> list[dict[str, Any]]:
    return [
        {"id": metric.get("id"), **{camel(k): v for k, v in metric.get("attributes", {}).items()}}
        for metric in _client().metrics_list()
    ]


def klaviyo_lists_page(
    *, cursor: str | None, page_size: int, name: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of Klaviyo's lists, in Klaviyo's order, optionally only those named `name`."""
    data, next_cursor = _client().lists_page(page_cursor=cursor, page_size=page_size, name=name)
    lists = [
        {"id": item.get("id"), **{camel(k): v for k, v in (item.get("attributes") or {}).items()}}
        for item in data
    ]
    return lists, next_cursor


def _profile(resource: dict[str, Any]) -> dict[str, Any]:
    attributes = dict(resource.get("attributes") or {})
    properties = attributes.pop("properties", None) or {}
    shaped: dict[str, Any] = {"id": resource.get("id")}
    for key, value in attributes.items():
        if key == "location" and isinstance(value, dict):
            shaped["location"] = {camel(k): v for k, v in value.items()}
        else:
            shaped[camel(key)] = value
    shaped["properties"] = properties  # custom keys, as clients sent them
    return shaped


def klaviyo_profile_get(*, email: str) -> dict[str, Any] | None:
    resource = _client().profile_get_by_email(email=email)
    return _profile(resource) if resource else None


def klaviyo_events_page(
    *,
    metric: str | None,
    email: str | None,
    since: datetime | None,
    until: datetime | None,
    cursor: str | None,
    page_size: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of Klaviyo's events (newest first), filtered by metric name and email."""
    client = _client()
    metric_id = profile_id = None
    if metric:
        metric_id = metric_ids_by_name(client.metrics_list()).get(metric)
        if metric_id is None:
            return [], None  # a metric Klaviyo never saw has no events there
    if email:
        profile = client.profile_get_by_email(email=email)
        if profile is None:
            return [], None
        profile_id = profile.get("id")
    data, included, next_cursor = client.events_list(
        metric_id=metric_id,
        profile_id=profile_id,
        since=since,
        until=until,
        page_cursor=cursor,
        page_size=page_size,
        include_profile=True,
        sort="-datetime",
    )
    events = []
    for event in data:
        attributes = event.get("attributes") or {}
        event_profile_id = related_id(event, "profile")
        event_metric_id = related_id(event, "metric")
        profile_resource = included.get(("profile", event_profile_id or "")) or {}
        events.append(
            {
                "id": event.get("id"),
                "metricId": event_metric_id,
                "profileId": event_profile_id,
                "email": (profile_resource.get("attributes") or {}).get("email"),
                "datetime": attributes.get("datetime"),
                "timestamp": attributes.get("timestamp"),
                "uuid": attributes.get("uuid"),
                "properties": attributes.get("event_properties") or {},
            }
        )
    return events, next_cursor
