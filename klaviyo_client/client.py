"""The only code that speaks HTTP to Klaviyo: one pooled `requests` session per process, the
auth and revision headers, JSON:API bodies, filters, cursors, errors, the client-side rate
limiter and one log line per call (logger `klaviyo_client.client`, fields in `extra`).

Paths: `KLAVIYO_BASE_URL` already ends in `/api` (`https://a.klaviyo.com/api`), so the spec's
`/api/events` is `<base>/events` here.

The client never retries by itself: callers on the request path want a quick answer, and the
sync tasks schedule their own retries (with the row's attempt count) through Celery.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from klaviyo_client import operations as ops
from klaviyo_client.consent import ConsentCalls
from klaviyo_client.errors import KlaviyoError, error_from_exception, error_from_response
from klaviyo_client.jobs import JobCalls
from klaviyo_client.lists import ListCalls
from klaviyo_client.query import (
    aggregate_datetime,
    cursor_from_link,
    filter_datetime,
    filter_string,
)
from klaviyo_client.ratelimit import RateLimiter, RateLimitExceeded, rate_limiter

logger = logging.getLogger("klaviyo_client.client")

JSON_API = "application/vnd.api+json"
# Pages of GET /api/metrics followed at most (200 metrics each): a guard against a cursor loop.
MAX_METRIC_PAGES = 50


# One session per process (Celery's prefork children each build their own after the fork).
_session: requests.Session | None = None
_session_pid: int | None = None
_session_lock = threading.Lock()


def pooled_session() -> requests.Session:
    global _session, _session_pid
    with _session_lock:
        if _session is None or _session_pid != os.getpid():
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            _session, _session_pid = session, os.getpid()
        return _session


class KlaviyoClient(JobCalls, ListCalls, ConsentCalls):
    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        revision: str,
        timeout: tuple[float, float],
        limiter: RateLimiter | None = None,
        rate_limit_max_wait: float = 0.0,
    ) -> None:
        if not api_key:
            raise ValueError("KlaviyoClient needs an API key")
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.revision = revision
        self.timeout = timeout
        self.limiter = limiter
        # How long a call may wait for the rate limiter before giving up (KlaviyoError local).
        self.rate_limit_max_wait = rate_limit_max_wait
        # Called before each request, even a call's second page: a sync worker's lease check,
        # which may shorten rate_limit_max_wait or raise to stop before a request too late.
        self.before_request: Callable[[], None] | None = None
        self.session = pooled_session()

    def __repr__(self) -> str:  # never the key
        return f"KlaviyoClient(base_url={self.base_url!r}, revision={self.revision!r})"

    # --- reads ----------------------------------------------------------------------------

    def metrics_list(self) -> list[dict[str, Any]]:
        """Every metric of the account (all pages of GET /api/metrics), as JSON:API resources
        `{"type": "metric", "id", "attributes": {"name", "created", "updated", "integration"}}`."""
        metrics: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(MAX_METRIC_PAGES):
            params = {"page[cursor]": cursor} if cursor else None
            body = self._json(self._call(ops.GET_METRICS, params=params))
            metrics.extend(body.get("data") or [])
            cursor = cursor_from_link((body.get("links") or {}).get("next"))
            if not cursor:
                break
        return metrics

    def profile_get_by_email(self, *, email: str) -> dict[str, Any] | None:
        """The Klaviyo profile with this email (a JSON:API resource), or None."""
        return self.profile_get_by(field="email", value=email)

    def profile_get_by(self, *, field: str, value: str) -> dict[str, Any] | None:
        """The Klaviyo profile whose `field` (email, phone_number, external_id) is `value`."""
        params = {"filter": f"equals({field},{filter_string(value)})", "page[size]": "1"}
        body = self._json(self._call(ops.GET_PROFILES, params=params))
        data = body.get("data") or []
        return data[0] if data else None

    def events_list(
        self,
        *,
        metric_id: str | None = None,
        profile_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        page_cursor: str | None = None,
        page_size: int = 200,
        include_profile: bool = False,
        sort: str | None = None,
    ) -> tuple[list[dict[str, Any]], dict[tuple[str, str], dict[str, Any]], str | None]:
        """One page of GET /api/events: (events, included, next cursor).

        `included` maps (type, id) -> resource, e.g. `included[("profile", pid)]` (filled when
        include_profile). `since` is inclusive, `until` exclusive. The cursor is None on the
        last page. `sort` is one of `datetime`, `-datetime`, `timestamp`, `-timestamp`.
        """
        filters = []
        if metric_id:
            filters.append(f"equals(metric_id,{filter_string(metric_id)})")
        if profile_id:
            filters.append(f"equals(profile_id,{filter_string(profile_id)})")
        if since:
            filters.append(f"greater-or-equal(datetime,{filter_datetime(since)})")
        if until:
            filters.append(f"less-than(datetime,{filter_datetime(until)})")
        params: dict[str, str] = {"page[size]": str(page_size)}
        if filters:
            params["filter"] = ",".join(filters)
        if page_cursor:
            params["page[cursor]"] = page_cursor
        if include_profile:
            params["include"] = "profile"
        if sort:
            params["sort"] = sort
        body = self._json(self._call(ops.GET_EVENTS, params=params))
        included = {
            (item.get("type", ""), item.get("id", "")): item for item in body.get("included") or []
        }
        next_cursor = cursor_from_link((body.get("links") or {}).get("next"))
        return body.get("data") or [], included, next_cursor

    def metric_aggregate(
        self,
        *,
        metric_id: str,
        start: datetime,
        end: datetime,
        timezone: str = "UTC",
        interval: str = "day",
        measurements: tuple[str, ...] = ("count",),
    ) -> dict[str, Any]:
        """POST /api/metric-aggregates over [start, end): the `data` resource, whose
        `attributes` hold `dates` (one per interval) and `data` (`[{"dimensions": [...],
        "measurements": {"count": [...]}}]`, one value per date)."""
        body = {
            "data": {
                "type": "metric-aggregate",
                "attributes": {
                    "metric_id": metric_id,
                    "measurements": list(measurements),
                    "interval": interval,
                    "filter": [
                        f"greater-or-equal(datetime,{aggregate_datetime(start, timezone)})",
                        f"less-than(datetime,{aggregate_datetime(end, timezone)})",
                    ],
                    "timezone": timezone,
                },
            }
        }
        return self._json(self._call(ops.QUERY_METRIC_AGGREGATES, body=body)).get("data") or {}

    def account_check(self) -> dict[str, Any]:
        """GET /api/accounts: a cheap authenticated call; the key's account resource."""
        body = self._json(self._call(ops.GET_ACCOUNTS))
        data = body.get("data") or []
        return data[0] if isinstance(data, list) and data else {}

    # --- writes ---------------------------------------------------------------------------

    def event_create(self, *, data: dict[str, Any], attempt: int = 1) -> int:
        """POST /api/events with one event resource (see mapping.event_resource); 202, no body."""
        return self._call(ops.CREATE_EVENT, body={"data": data}, attempt=attempt).status_code

    def event_bulk_create_job(self, *, body: bytes, attempt: int = 1) -> int:
        """POST /api/event-bulk-create-jobs with a body packed by mapping.bulk_requests
        (kept as bytes: the packer measured it against the 5 MB limit); 202, no body."""
        return self._call(ops.BULK_CREATE_EVENTS, raw_body=body, attempt=attempt).status_code

    def profile_import(self, *, data: dict[str, Any], attempt: int = 1) -> dict[str, Any]:
        """POST /api/profile-import (create or update one profile); the profile resource, whose
        `id` is Klaviyo's profile id."""
        response = self._call(ops.PROFILE_IMPORT, body={"data": data}, attempt=attempt)
        return self._json(response).get("data") or {}

    def profile_update(
        self, *, profile_id: str, data: dict[str, Any], attempt: int = 1
    ) -> dict[str, Any]:
        """PATCH /api/profiles/{id}: updates the profile Klaviyo knows by this id (`data.id` is
        set to it); the profile resource."""
        body = {"data": {**data, "id": profile_id}}
        response = self._call(ops.UPDATE_PROFILE, body=body, attempt=attempt, path_id=profile_id)
        return self._json(response).get("data") or {}

    # --- plumbing -------------------------------------------------------------------------

    def _headers(self, *, with_body: bool) -> dict[str, str]:
        headers = {
            "Authorization": f"Klaviyo-API-Key {self._api_key}",
            "revision": self.revision,
            "Accept": JSON_API,
        }
        if with_body:
            headers["Content-Type"] = JSON_API
        return headers

    def _url(
        self, operation: ops.Operation, params: dict[str, str] | None, path_id: str | None = None
    ) -> str:
        path = operation.path
        if path_id is not None:
            path = path.replace("{id}", quote(path_id, safe=""))
        url = f"{self.base_url}/{path}"
        if params:
            # Filters are URI-encoded whole: quotes, commas and parentheses included.
            url += "?" + urlencode(params, quote_via=quote, safe="")
        return url

    def _call(
        self,
        operation: ops.Operation,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        raw_body: bytes | None = None,
        attempt: int = 1,
        path_id: str | None = None,
    ) -> requests.Response:
        if self.before_request is not None:
            self.before_request()
        if body is not None:
            raw_body = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
        self._wait_for_rate_limit(operation, attempt=attempt)
        started = time.monotonic()
        try:
            response = self.session.request(
                operation.method,
                self._url(operation, params, path_id),
                data=raw_body,
                headers=self._headers(with_body=raw_body is not None),
                timeout=self.timeout,
            )
        except requests.RequestException as raised:
            error = error_from_exception(raised)
            level = logging.WARNING if error.retryable else logging.ERROR
            self._log(operation, None, started, attempt, level=level)
            raise error from None
        status = response.status_code
        self._log(operation, status, started, attempt, level=logging.INFO)
        if status < 400:
            return response
        raise self._error(operation, response)

    def _wait_for_rate_limit(self, operation: ops.Operation, *, attempt: int) -> None:
        if self.limiter is None:
            return
        try:
            self.limiter.acquire(operation.bucket, max_wait=self.rate_limit_max_wait)
        except RateLimitExceeded as exceeded:
            logger.info(
                "Klaviyo %s held back by the client-side rate limiter for %.2f s",
                operation.name,
                exceeded.wait,
                extra={"endpoint": operation.name, "attempt": attempt, "wait_s": exceeded.wait},
            )
            raise KlaviyoError(
                status=None,
                retryable=True,
                retry_after=exceeded.wait,
                detail=f"Client-side rate limit of {operation.name}: retry in {exceeded.wait:.1f}s",
                local=True,
            ) from None

    def _error(self, operation: ops.Operation, response: requests.Response) -> KlaviyoError:
        error = error_from_response(response, secret=self._api_key)
        if error.status == 429 and self.limiter is not None:
            # Every worker pauses this endpoint, not only the one that was told.
            self.limiter.block(operation.bucket, seconds=error.retry_after or 1.0)
        if error.is_auth_error:
            logger.error(
                "Klaviyo refused the API key for %s (HTTP %s): check KLAVIYO_API_KEY and its "
                "scopes. Klaviyo said: %s",
                operation.name,
                error.status,
                error.detail,
                extra={"endpoint": operation.name, "status": error.status, "config_error": True},
            )
        return error

    @staticmethod
    def _json(response: requests.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            raise KlaviyoError(
                status=response.status_code,
                retryable=False,
                detail="Klaviyo answered with a body that is not JSON",
            ) from None
        return body if isinstance(body, dict) else {}

    @staticmethod
    def _log(
        operation: ops.Operation, status: int | None, started: float, attempt: int, *, level: int
    ) -> None:
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        if status is not None and status >= 400:
            level = max(level, logging.WARNING)
        logger.log(
            level,
            "Klaviyo %s -> %s in %.1f ms (attempt %d)",
            operation.name,
            status if status is not None else "no answer",
            duration_ms,
            attempt,
            extra={
                "endpoint": operation.name,
                "status": status,
                "duration_ms": duration_ms,
                "attempt": attempt,
            },
        )


def klaviyo_client(
    *, timeout: float | None = None, rate_limit_max_wait: float | None = None
) -> KlaviyoClient | None:
    """The client configured by settings; None when KLAVIYO_API_KEY is empty.

    `timeout` (seconds) replaces both the connect and read timeouts, and also bounds the
    wait for the rate limiter: for reads on the request path, which have a short budget.
    `rate_limit_max_wait` sets that wait alone (default: KLAVIYO_RATE_LIMIT_MAX_WAIT).
    """
    if not settings.KLAVIYO_API_KEY:
        return None
    if timeout is not None:
        timeouts = (timeout, timeout)
        max_wait = timeout
    else:
        timeouts = (settings.KLAVIYO_CONNECT_TIMEOUT, settings.KLAVIYO_READ_TIMEOUT)
        max_wait = settings.KLAVIYO_RATE_LIMIT_MAX_WAIT
    if rate_limit_max_wait is not None:
        max_wait = rate_limit_max_wait
    return KlaviyoClient(
        api_key=settings.KLAVIYO_API_KEY,
        base_url=settings.KLAVIYO_BASE_URL,
        revision=settings.KLAVIYO_REVISION,
        timeout=timeouts,
        limiter=rate_limiter(),
        rate_limit_max_wait=max_wait,
    )
