"""How long a worker holds the events it claimed (the send lease), derived from what one
Klaviyo request can take, and the clock a batch is sent against.

A claim stamps the rows `next_attempt_at = claimed + lease`; once the lease ends another task
may claim them (a worker killed mid-batch is replaced that soon, by the sweeper). So a worker
must never start a request it can't finish within its lease: before each request it checks the
time left, waits for the rate limiter no longer than that allows, and gives the rest of the
batch back (queued again at once, under a new claim) when a whole request no longer fits.

One request takes at most: the wait for the client-side rate limiter (KLAVIYO_RATE_LIMIT_MAX_WAIT,
after which the call gives up without sending), the connect timeout, and the read timeout. The
lease is that, plus the time to read and pack the batch before the first request, plus the
tolerance with which a claim takes rows a little early. With the defaults (20 + 3.05 + 15 s):
49 s, so a killed worker's batch is sent again within the lease plus a sweep interval (10 s)
and its own send: well under two minutes (klaviyo_sync/tests/test_lease.py).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db.models import Q

if TYPE_CHECKING:
    from klaviyo_client.client import KlaviyoClient

# A claim takes rows whose next_attempt_at is at most this far ahead: a retry task may run a
# little before its row's time (clocks, rounding). It also shortens every lease by as much.
CLAIM_TOLERANCE = timedelta(seconds=5)


def claimable(now: datetime) -> Q:
    """Rows a claim at `now` may take: due (no claim or retry held past the tolerance)."""
    return Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now + CLAIM_TOLERANCE)


# Seconds from the claim to the first request: reading the rows and profiles, building the
# bodies of a full batch (1,000 events, 5 MB).
BATCH_SETUP_SECONDS = 5.0


def request_seconds(
    *, rate_limit_max_wait: float, connect_timeout: float, read_timeout: float
) -> float:
    """The longest one Klaviyo request of the sync can take, its rate-limiter wait included."""
    return rate_limit_max_wait + connect_timeout + read_timeout


def send_lease_seconds(
    rate_limit_max_wait: float, connect_timeout: float, read_timeout: float
) -> int:
    """The send lease: room for the batch's setup and one whole request, never less."""
    one_request = request_seconds(
        rate_limit_max_wait=rate_limit_max_wait,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
    seconds = BATCH_SETUP_SECONDS + one_request + CLAIM_TOLERANCE.total_seconds()
    return math.ceil(seconds)


class LeaseOver(Exception):
    """No whole request fits in the lease any more: the work stops before the request, and
    what is left of it goes under a new claim."""


@dataclass
class SendClock:
    """The time a claimed batch has left to start requests: its lease minus the claim
    tolerance (another task may claim that early)."""

    lease_seconds: float
    connect_timeout: float
    read_timeout: float
    rate_limit_max_wait: float
    started: float = field(default_factory=lambda: time.monotonic())
    requests_started: int = 0  # by the client it guards

    def left(self) -> float:
        usable = self.lease_seconds - CLAIM_TOLERANCE.total_seconds()
        return usable - (time.monotonic() - self.started)

    def rate_limit_wait_allowed(self) -> float | None:
        """How long the next request may wait for the rate limiter and still end within the
        lease; None when not even a request without waiting fits any more."""
        room = self.left() - self.connect_timeout - self.read_timeout
        if room < 0:
            return None
        return min(self.rate_limit_max_wait, room)

    def guard(self, client: KlaviyoClient) -> None:
        """Checks the lease before each of the client's requests (a sender that makes many,
        lookups and polls included): LeaseOver when it could not end within the lease."""

        def before_request() -> None:
            wait = self.rate_limit_wait_allowed()
            if wait is None:
                raise LeaseOver
            client.rate_limit_max_wait = wait
            self.requests_started += 1

        client.before_request = before_request
