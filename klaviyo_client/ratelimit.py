"""Client-side rate limiting of Klaviyo calls, per endpoint ("bucket"), shared by every worker
through Redis, so that draining a backlog stays under Klaviyo's limits instead of collecting 429s.

Klaviyo counts each endpoint in two fixed windows at once (1 s burst, 1 min steady). Our windows
cannot be aligned with Klaviyo's, so the limiter keeps a sliding log of call times instead: no
interval of a window's length (plus a small margin for network jitter) ever holds more calls
than the limit, hence no fixed window of Klaviyo's does either.

Without Redis (no broker: eager mode), or while Redis is unreachable, the same algorithm runs
in process; limits then hold per process.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis

from klaviyo_client.limits import RATE_LIMITS

logger = logging.getLogger(__name__)

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
LIMIT_PATTERN = re.compile(r"^\s*(\d+)\s*/\s*([smh])\s*$")


@dataclass(frozen=True)
class Limit:
    count: int
    per: float  # seconds


@dataclass(frozen=True)
class WindowUsage:
    used: int
    limit: int
    per: float  # seconds


@dataclass(frozen=True)
class BucketUsage:
    """What the staff console shows of one bucket: each window's calls and any 429 pause."""

    bucket: str
    windows: tuple[WindowUsage, ...]
    blocked_for: float  # seconds left of a pause Klaviyo asked for (429 + Retry-After)
    shared: bool  # counted in Redis for every worker, not in this process only

    @property
    def busiest_share(self) -> float:
        return max((window.used / window.limit for window in self.windows), default=0.0)


class RateLimitExceeded(Exception):
    """The call would have to wait `wait` seconds, longer than the caller allowed."""

    def __init__(self, wait: float) -> None:
        self.wait = wait
        super().__init__(f"rate limited for {wait:.2f}s")


def parse_limits(text: str) -> tuple[Limit, ...]:
    """`"350/s,3500/m"` -> (Limit(350, 1.0), Limit(3500, 60.0)); ValueError when malformed."""
    limits = []
    for part in text.split(","):
        match = LIMIT_PATTERN.match(part)
        if not match or int(match.group(1)) < 1:
            raise ValueError(f"{part.strip()!r} is not a limit like 10/s, 150/m or 1000/h")
        limits.append(Limit(count=int(match.group(1)), per=UNITS[match.group(2)]))
    return tuple(limits)


class RateLimiter(Protocol):
    def acquire(self, bucket: str, *, max_wait: float) -> None:
        """Returns when a call may go (after sleeping at most max_wait seconds), else raises
        RateLimitExceeded with the wait that would have been needed."""

    def block(self, bucket: str, *, seconds: float) -> None:
        """Klaviyo answered 429: no call to this bucket for `seconds`."""

    def usage(self, bucket: str) -> BucketUsage:
        """The bucket's calls in each window now and how long it is blocked; records nothing."""


class LocalRateLimiter:
    """Sliding-window logs in this process (thread-safe)."""

    def __init__(
        self,
        limits: dict[str, tuple[Limit, ...]],
        *,
        margin: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limits = limits
        self.margin = margin
        self.clock = clock
        self.sleep = sleep
        self._logs: dict[tuple[str, int], deque[float]] = {}
        self._blocked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait_needed(self, bucket: str) -> float:
        """Records a call and returns 0 when one may go now, else the seconds to wait."""
        limits = self.limits.get(bucket, ())
        with self._lock:
            now = self.clock()
            wait = self._blocked_until.get(bucket, 0.0) - now
            for index, limit in enumerate(limits):
                log = self._logs.setdefault((bucket, index), deque())
                window = limit.per + self.margin
                while log and log[0] <= now - window:
                    log.popleft()
                if len(log) >= limit.count:
                    wait = max(wait, log[len(log) - limit.count] + window - now)
            if wait > 0:
                return wait
            for index in range(len(limits)):
                self._logs[(bucket, index)].append(now)
            return 0.0

    def acquire(self, bucket: str, *, max_wait: float) -> None:
        _acquire(self.wait_needed, bucket, max_wait, clock=self.clock, sleep=self.sleep)

    def usage(self, bucket: str) -> BucketUsage:
        limits = self.limits.get(bucket, ())
        with self._lock:
            now = self.clock()
            windows = []
            for index, limit in enumerate(limits):
                log = self._logs.get((bucket, index), deque())
                used = sum(1 for moment in log if moment > now - limit.per - self.margin)
                windows.append(WindowUsage(used=used, limit=limit.count, per=limit.per))
            blocked = max(0.0, self._blocked_until.get(bucket, 0.0) - now)
        return BucketUsage(bucket=bucket, windows=tuple(windows), blocked_for=blocked, shared=False)

    def block(self, bucket: str, *, seconds: float) -> None:
        with self._lock:
            until = self.clock() + seconds
            self._blocked_until[bucket] = max(self._blocked_until.get(bucket, 0.0), until)


# Sliding-window logs in sorted sets, scored by Redis's own clock (workers' clocks may differ).
# KEYS: one log per limit, then the bucket's block key. ARGV: count and window (microseconds)
# per limit, then a unique member. Returns 0 (recorded) or the microseconds to wait.
ACQUIRE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local blocked = tonumber(redis.call('GET', KEYS[#KEYS]) or '0')
local wait = blocked - now
for i = 1, #KEYS - 1 do
  local limit = tonumber(ARGV[2 * i - 1])
  local window = tonumber(ARGV[2 * i])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local n = redis.call('ZCARD', KEYS[i])
  if n >= limit then
    local entry = redis.call('ZRANGE', KEYS[i], n - limit, n - limit, 'WITHSCORES')
    local w = tonumber(entry[2]) + window - now
    if w > wait then wait = w end
  end
end
if wait > 0 then return wait end
local member = ARGV[#ARGV]
for i = 1, #KEYS - 1 do
  redis.call('ZADD', KEYS[i], now, member)
  redis.call('PEXPIRE', KEYS[i], math.ceil(tonumber(ARGV[2 * i]) / 1000) + 1000)
end
return 0
"""
# Read only. KEYS: one log per limit, then the block key. ARGV: each limit's window (microseconds).
# Returns the calls in each window, then the microseconds the bucket stays blocked.
USAGE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local result = {}
for i = 1, #KEYS - 1 do
  result[i] = redis.call('ZCOUNT', KEYS[i], now - tonumber(ARGV[i]), '+inf')
end
local blocked = tonumber(redis.call('GET', KEYS[#KEYS]) or '0') - now
if blocked < 0 then blocked = 0 end
result[#KEYS] = blocked
return result
"""
BLOCK_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ms = tonumber(ARGV[1])
local until_ = now + ms * 1000
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > current then redis.call('SET', KEYS[1], until_, 'PX', ms + 1000) end
return 0
"""


class RedisRateLimiter:
    """Sliding-window logs in Redis, shared by all workers; in process while Redis is down."""

    def __init__(
        self,
        limits: dict[str, tuple[Limit, ...]],
        *,
        url: str,
        margin: float,
        prefix: str = "klaviyo:ratelimit",
    ) -> None:
        self.limits = limits
        self.margin = margin
        self.prefix = prefix
        self.redis = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._acquire_script = self.redis.register_script(ACQUIRE_SCRIPT)
        self._block_script = self.redis.register_script(BLOCK_SCRIPT)
        self._usage_script = self.redis.register_script(USAGE_SCRIPT)
        self.fallback = LocalRateLimiter(limits, margin=margin)
        self._last_warning = 0.0

    def wait_needed(self, bucket: str) -> float:
        limits = self.limits.get(bucket, ())
        keys = [f"{self.prefix}:{bucket}:{index}" for index in range(len(limits))]
        keys.append(f"{self.prefix}:{bucket}:blocked")
        args: list[int | str] = []
        for limit in limits:
            args += [limit.count, int((limit.per + self.margin) * 1_000_000)]
        args.append(uuid.uuid4().hex)
        try:
            waited = self._acquire_script(keys=keys, args=args)
        except redis.RedisError as error:
            self._warn(error)
            return self.fallback.wait_needed(bucket)
        return int(waited) / 1_000_000

    def acquire(self, bucket: str, *, max_wait: float) -> None:
        _acquire(self.wait_needed, bucket, max_wait, clock=time.monotonic, sleep=time.sleep)

    def usage(self, bucket: str) -> BucketUsage:
        limits = self.limits.get(bucket, ())
        keys = [f"{self.prefix}:{bucket}:{index}" for index in range(len(limits))]
        keys.append(f"{self.prefix}:{bucket}:blocked")
        windows = [int((limit.per + self.margin) * 1_000_000) for limit in limits]
        try:
            answer = [int(value) for value in self._usage_script(keys=keys, args=windows)]
        except redis.RedisError as error:
            self._warn(error)
            return self.fallback.usage(bucket)
        return BucketUsage(
            bucket=bucket,
            windows=tuple(
                WindowUsage(used=used, limit=limit.count, per=limit.per)
                for used, limit in zip(answer[:-1], limits, strict=True)
            ),
            blocked_for=answer[-1] / 1_000_000,
            shared=True,
        )

    def block(self, bucket: str, *, seconds: float) -> None:
        self.fallback.block(bucket, seconds=seconds)
        try:
            self._block_script(
                keys=[f"{self.prefix}:{bucket}:blocked"], args=[max(1, int(seconds * 1000))]
            )
        except redis.RedisError as error:
            self._warn(error)

    def _warn(self, error: Exception) -> None:
        # Once a minute at most: a Redis outage would otherwise log on every call.
        if time.monotonic() - self._last_warning > 60:
            self._last_warning = time.monotonic()
            logger.warning("Rate limiter: Redis unreachable (%s); limiting in process", error)


def _acquire(
    wait_needed: Callable[[str], float],
    bucket: str,
    max_wait: float,
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> None:
    deadline = clock() + max_wait
    while True:
        wait = wait_needed(bucket)
        if wait <= 0:
            return
        if clock() + wait > deadline:
            raise RateLimitExceeded(wait)
        sleep(wait)


_limiter: RateLimiter | None = None
_limiter_config: tuple | None = None
_limiter_lock = threading.Lock()


def rate_limiter() -> RateLimiter | None:
    """The process's limiter as settings describe it; None when KLAVIYO_RATE_LIMIT_ENABLED is
    off. Redis at KLAVIYO_RATE_LIMIT_REDIS_URL when set, else in process."""
    from django.conf import settings

    global _limiter, _limiter_config
    if not settings.KLAVIYO_RATE_LIMIT_ENABLED:
        return None
    config = (
        settings.KLAVIYO_RATE_LIMIT_REDIS_URL,
        settings.KLAVIYO_RATE_LIMIT_MARGIN,
        tuple(sorted(settings.KLAVIYO_RATE_LIMITS.items())),
    )
    with _limiter_lock:
        if _limiter is None or _limiter_config != config:
            # Klaviyo's published limits, the writes' as settings have them (they may be lower).
            limits = {bucket: parse_limits(text) for bucket, text in RATE_LIMITS.items()}
            limits.update(settings.KLAVIYO_RATE_LIMITS)
            url, margin = settings.KLAVIYO_RATE_LIMIT_REDIS_URL, settings.KLAVIYO_RATE_LIMIT_MARGIN
            _limiter = (
                RedisRateLimiter(limits, url=url, margin=margin)
                if url
                else LocalRateLimiter(limits, margin=margin)
            )
            _limiter_config = config
        return _limiter
