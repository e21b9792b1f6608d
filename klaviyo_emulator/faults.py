"""Failure switches: answer any error status (4xx or 5xx: 403 for a key without a scope, 409,
410 for a retired endpoint, 429, 503, ...) for the next N requests (or for some seconds), add
latency, reject given emails, delay when writes show in reads (Klaviyo processes writes
asynchronously: a 202 "does not guarantee that processing is complete", spec of create_event).
Set at start and changed at runtime through the control API."""

import threading
import time
from dataclasses import dataclass, field
from typing import Any

FAULT_STATUSES = range(400, 600)


class FaultSpecError(ValueError):
    """A fault request the emulator does not understand."""


@dataclass
class FaultedStatus:
    status: int
    remaining: int | None  # None: no count limit
    until: float | None  # monotonic deadline; None: no time limit
    path: str | None  # only requests to this path (e.g. /api/event-bulk-create-jobs)
    retry_after: int  # for a 429
    after_processing: bool  # answer the status after the request took effect (a lost reply)
    # Only requests of this Klaviyo operation (its operationId, e.g. add_profiles_to_list):
    # targets a route whose path has ids in it, or one method of a path.
    operation: str | None = None

    def live(self, now: float) -> bool:
        if self.until is not None and now >= self.until:
            return False
        return self.remaining is None or self.remaining > 0

    def applies_to(self, path: str, now: float, operation: str | None = None) -> bool:
        if not self.live(now):
            return False
        if self.operation is not None and self.operation != operation:
            return False
        return self.path is None or self.path.rstrip("/") == path.rstrip("/")


@dataclass
class Faults:
    statuses: list[FaultedStatus] = field(default_factory=list)
    latency_ms: int = 0
    read_lag_ms: int = 0  # what was written shows in reads only this long after
    reject_emails: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def configure(self, spec: dict[str, Any]) -> None:
        """Applies one control request, e.g. {"status": 503, "count": 2},
        {"status": 429, "seconds": 3, "retry_after": 1}, {"latency_ms": 200},
        {"reject_email": "a@example.com"} (or a list), {"read_lag_ms": 500}."""
        unknown = set(spec) - {
            "status",
            "count",
            "seconds",
            "path",
            "operation",
            "retry_after",
            "after_processing",
            "latency_ms",
            "read_lag_ms",
            "reject_email",
        }
        if unknown:
            raise FaultSpecError(f"unknown fault keys: {sorted(unknown)}")
        with self._lock:
            if "status" in spec:
                self.statuses.append(self._status_from(spec))
            if "latency_ms" in spec:
                latency = spec["latency_ms"]
                if not isinstance(latency, int) or latency < 0:
                    raise FaultSpecError("latency_ms must be a non-negative integer")
                self.latency_ms = latency
            if "read_lag_ms" in spec:
                lag = spec["read_lag_ms"]
                if not isinstance(lag, int) or isinstance(lag, bool) or lag < 0:
                    raise FaultSpecError("read_lag_ms must be a non-negative integer")
                self.read_lag_ms = lag
            if "reject_email" in spec:
                emails = spec["reject_email"]
                emails = [emails] if isinstance(emails, str) else emails
                if not isinstance(emails, list) or not all(isinstance(e, str) for e in emails):
                    raise FaultSpecError("reject_email must be an email or a list of emails")
                self.reject_emails.update(e.lower() for e in emails)

    @staticmethod
    def _status_from(spec: dict[str, Any]) -> FaultedStatus:
        status = spec["status"]
        if isinstance(status, bool) or status not in FAULT_STATUSES:
            raise FaultSpecError("status must be an error status, 400 to 599")
        count, seconds = spec.get("count"), spec.get("seconds")
        if count is not None and (not isinstance(count, int) or count < 1):
            raise FaultSpecError("count must be a positive integer")
        if seconds is not None and (not isinstance(seconds, int | float) or seconds <= 0):
            raise FaultSpecError("seconds must be a positive number")
        retry_after = spec.get("retry_after", 1)
        if not isinstance(retry_after, int) or retry_after < 0:
            raise FaultSpecError("retry_after must be a non-negative integer")
        operation = spec.get("operation")
        if operation is not None and not isinstance(operation, str):
            raise FaultSpecError("operation must be an operationId, e.g. bulk_subscribe_profiles")
        return FaultedStatus(
            operation=operation,
            status=status,
            remaining=count,
            until=time.monotonic() + seconds if seconds is not None else None,
            path=spec.get("path"),
            retry_after=retry_after,
            after_processing=bool(spec.get("after_processing", False)),
        )

    def take(
        self, path: str, *, after_processing: bool, operation: str | None = None
    ) -> FaultedStatus | None:
        """The fault to answer this request (to `path`, of the operation with this
        operationId) with, if any, using up one of its count."""
        now = time.monotonic()
        with self._lock:
            self.statuses = [s for s in self.statuses if s.live(now)]
            for fault in self.statuses:
                if fault.after_processing == after_processing and fault.applies_to(
                    path, now, operation
                ):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    return fault
        return None

    def rejects(self, email: Any) -> bool:
        return isinstance(email, str) and email.lower() in self.reject_emails

    def clear(self) -> None:
        with self._lock:
            self.statuses = []
            self.latency_ms = 0
            self.read_lag_ms = 0
            self.reject_emails = set()

    def describe(self) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            return {
                "statuses": [
                    {
                        "status": s.status,
                        "remaining": s.remaining,
                        "seconds_left": round(s.until - now, 3) if s.until is not None else None,
                        "path": s.path,
                        "operation": s.operation,
                        "retry_after": s.retry_after,
                        "after_processing": s.after_processing,
                    }
                    for s in self.statuses
                    if s.live(now)
                ],
                "latency_ms": self.latency_ms,
                "read_lag_ms": self.read_lag_ms,
                "reject_emails": sorted(self.reject_emails),
            }
