"""The one error type of every Klaviyo call: permanent or retryable, with Klaviyo's own error
objects, and its making from an error answer (never holding the API key)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from requests.exceptions import InvalidHeader, InvalidSchema, InvalidURL, MissingSchema, URLRequired

# Statuses worth another try later: throttling and Klaviyo's own failures.
RETRYABLE_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))
DETAIL_MAX_CHARS = 2000


class KlaviyoError(Exception):
    """A call that did not succeed: Klaviyo's error answer, a timeout, a connection failure
    or an answer broken off (retryable, with no status), or a request that could not be built
    (permanent: nothing was sent, and a retry would build the same).

    `detail` is Klaviyo's error title/detail(s) (or what went wrong locally); it never holds
    the API key. `errors` keeps Klaviyo's error objects, whose `source.pointer` says which
    part of a body was rejected. `local` is True when nothing reached Klaviyo (the client-side
    rate limiter would have had to wait longer than allowed).
    """

    def __init__(
        self,
        *,
        status: int | None,
        retryable: bool,
        detail: str,
        retry_after: float | None = None,
        errors: list[dict[str, Any]] | None = None,
        local: bool = False,
    ) -> None:
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        self.detail = detail
        self.errors = errors or []
        self.local = local
        super().__init__(self.summary)

    @property
    def summary(self) -> str:
        """What goes into a row's last_error: `HTTP 400: <detail>` or `<detail>`."""
        return f"HTTP {self.status}: {self.detail}" if self.status else self.detail

    @property
    def is_auth_error(self) -> bool:
        return self.status in (401, 403)


class KlaviyoNotConfigured(Exception):
    """KLAVIYO_API_KEY is empty: there is no Klaviyo to ask."""


def error_from_response(response: requests.Response, *, secret: str) -> KlaviyoError:
    """The KlaviyoError of an answer of 400 or more: its errors' titles, details and pointers
    (`secret` masked), and Retry-After in seconds."""
    status = response.status_code
    errors: list[dict[str, Any]] = []
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("errors"), list):
        errors = [e for e in payload["errors"] if isinstance(e, dict)]
    parts = []
    for error in errors:
        text = " ".join(str(error[key]) for key in ("title", "detail") if error.get(key)).strip()
        pointer = (error.get("source") or {}).get("pointer") if error.get("source") else None
        if pointer:
            text = f"{text} ({pointer})"
        if text and text not in parts:
            parts.append(text)
    detail = "; ".join(parts) or response.reason or f"HTTP {status}"
    return KlaviyoError(
        status=status,
        retryable=status in RETRYABLE_STATUSES,
        retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        detail=detail.replace(secret, "***")[:DETAIL_MAX_CHARS],
        errors=errors,
    )


def retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:  # "inf" or "nan" is no delay (an infinite pause overflowed the limiter's block)
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


# Raised while the request is built, before anything is sent: another try builds the same. Any
# other RequestException comes after it went out (an answer broken off or undecodable, ...):
# as after a read timeout, Klaviyo may have it or not; a retry is safe (an event's unique_id).
UNSENDABLE = (URLRequired, MissingSchema, InvalidSchema, InvalidURL, InvalidHeader)


def error_from_exception(error: requests.RequestException) -> KlaviyoError:
    """A request that got no answer: permanent only when it could not be built."""
    name = type(error).__name__
    if isinstance(error, requests.Timeout):  # a ConnectTimeout is a ConnectionError too
        return KlaviyoError(status=None, retryable=True, detail=f"Timed out: {name}")
    if isinstance(error, requests.ConnectionError):
        return KlaviyoError(status=None, retryable=True, detail=f"Connection failed: {name}")
    if isinstance(error, UNSENDABLE):
        return KlaviyoError(status=None, retryable=False, detail=f"Request not built: {name}")
    return KlaviyoError(status=None, retryable=True, detail=f"Request failed: {name}")
