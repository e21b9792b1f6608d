"""The client-side rate limiter: sliding windows that keep every one of Klaviyo's fixed windows
under its limit, shared by workers through Redis, in process without Redis."""

import os
import uuid

import pytest

from klaviyo_client.ratelimit import (
    Limit,
    LocalRateLimiter,
    RateLimitExceeded,
    RedisRateLimiter,
    parse_limits,
    rate_limiter,
)

# Redis database of these tests (helper A's); CI's broker database when set.
REDIS_URL = os.environ.get("KLAVIYO_TEST_REDIS_URL", "redis://127.0.0.1:6379/1")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def local(text: str, *, margin: float = 0.0, clock: FakeClock | None = None) -> LocalRateLimiter:
    clock = clock or FakeClock()
    return LocalRateLimiter(
        {"bulk": parse_limits(text)}, margin=margin, clock=clock, sleep=clock.sleep
    )


def test_it_parses_limits_per_second_minute_and_hour():
    assert parse_limits("10/s, 150/m,1000/h") == (
        Limit(10, 1.0),
        Limit(150, 60.0),
        Limit(1000, 3600.0),
    )


@pytest.mark.parametrize("text", ["", "10", "10/x", "0/s", "ten/s", "10/s;150/m"])
def test_it_rejects_malformed_limits(text):
    with pytest.raises(ValueError, match="is not a limit like"):
        parse_limits(text)


def test_calls_within_the_limit_go_at_once_and_the_next_waits_for_the_window():
    clock = FakeClock()
    limiter = local("3/s", margin=0.125, clock=clock)

    waits = [limiter.wait_needed("bulk") for _ in range(4)]

    assert waits[:3] == [0, 0, 0]
    assert waits[3] == 1.125  # the window plus the margin
    clock.now += 1.0
    assert limiter.wait_needed("bulk") == 0.125
    clock.now += 0.125
    assert limiter.wait_needed("bulk") == 0


def test_the_steady_window_holds_back_a_long_run_of_bursts():
    clock = FakeClock()
    limiter = local("2/s,3/m", clock=clock)

    assert [limiter.wait_needed("bulk") for _ in range(2)] == [0, 0]
    clock.now += 1.0
    assert limiter.wait_needed("bulk") == 0
    clock.now += 1.0
    assert limiter.wait_needed("bulk") == pytest.approx(58.0)


def test_acquire_sleeps_when_allowed_and_raises_when_the_wait_is_too_long():
    clock = FakeClock()
    limiter = local("1/s", clock=clock)
    limiter.acquire("bulk", max_wait=0)

    with pytest.raises(RateLimitExceeded) as exceeded:
        limiter.acquire("bulk", max_wait=0.5)
    limiter.acquire("bulk", max_wait=2)

    assert exceeded.value.wait == pytest.approx(1.0)
    assert clock.now == pytest.approx(1001.0)


def test_a_drain_never_puts_more_than_the_limit_in_any_of_klaviyos_windows():
    clock = FakeClock()
    limiter = local("10/s,150/m", margin=0.1, clock=clock)
    times = []

    for _ in range(160):
        limiter.acquire("bulk", max_wait=120)
        times.append(clock.now)

    # Whatever the alignment of Klaviyo's fixed windows, a window of 1 s (60 s) can only hold
    # more than 10 (150) calls if some 11 (151) consecutive calls span less than 1 s (60 s).
    assert all(later - first >= 1.0 for first, later in zip(times, times[10:], strict=False))
    assert all(later - first >= 60.0 for first, later in zip(times, times[150:], strict=False))
    # ... and it is not much slower than the limit allows: 150 calls in the first minute.
    assert times[149] - times[0] < 15 * 1.1


def test_a_blocked_bucket_waits_for_retry_after():
    clock = FakeClock()
    limiter = local("100/s", clock=clock)

    limiter.block("bulk", seconds=30)

    assert limiter.wait_needed("bulk") == pytest.approx(30)
    assert limiter.wait_needed("other") == 0


def test_buckets_are_limited_separately():
    limiter = LocalRateLimiter(
        {"a": parse_limits("1/s"), "b": parse_limits("1/s")}, margin=0, clock=FakeClock()
    )

    assert [limiter.wait_needed("a"), limiter.wait_needed("b")] == [0, 0]
    assert limiter.wait_needed("a") > 0


@pytest.fixture
def redis_limits():
    prefix = f"klaviyo-test:{uuid.uuid4().hex}"
    limits = {"bulk": parse_limits("3/s,100/m")}
    limiters = [
        RedisRateLimiter(limits, url=REDIS_URL, margin=0.05, prefix=prefix) for _ in range(2)
    ]
    yield limiters
    for key in limiters[0].redis.scan_iter(f"{prefix}:*"):
        limiters[0].redis.delete(key)


def test_workers_share_one_limit_through_redis(redis_limits):
    first_worker, second_worker = redis_limits

    first_worker.acquire("bulk", max_wait=0)
    first_worker.acquire("bulk", max_wait=0)
    second_worker.acquire("bulk", max_wait=0)

    with pytest.raises(RateLimitExceeded) as exceeded:
        second_worker.acquire("bulk", max_wait=0)
    assert 0 < exceeded.value.wait <= 1.05


def test_a_429_told_to_one_worker_pauses_all_of_them(redis_limits):
    first_worker, second_worker = redis_limits

    first_worker.block("bulk", seconds=20)

    with pytest.raises(RateLimitExceeded) as exceeded:
        second_worker.acquire("bulk", max_wait=0)
    assert 19 < exceeded.value.wait <= 20


def test_without_redis_it_limits_in_process():
    limiter = RedisRateLimiter(
        {"bulk": parse_limits("2/s")}, url="redis://127.0.0.1:1/0", margin=0.0
    )

    limiter.acquire("bulk", max_wait=0)
    limiter.acquire("bulk", max_wait=0)

    with pytest.raises(RateLimitExceeded):
        limiter.acquire("bulk", max_wait=0)


def test_settings_choose_the_limiter(settings):
    settings.KLAVIYO_RATE_LIMIT_ENABLED = False
    assert rate_limiter() is None

    settings.KLAVIYO_RATE_LIMIT_ENABLED = True
    settings.KLAVIYO_RATE_LIMIT_REDIS_URL = ""
    in_process = rate_limiter()
    assert isinstance(in_process, LocalRateLimiter)
    assert in_process.limits["bulk_events"] == (Limit(10, 1.0), Limit(150, 60.0))
    assert in_process.limits["accounts"] == (Limit(1, 1.0), Limit(15, 60.0))
    assert rate_limiter() is in_process

    settings.KLAVIYO_RATE_LIMIT_REDIS_URL = REDIS_URL
    assert isinstance(rate_limiter(), RedisRateLimiter)


def test_usage_counts_each_windows_calls_and_the_pause_without_recording_one():
    clock = FakeClock()
    limiter = local("3/s,10/m", clock=clock)
    limiter.wait_needed("bulk")
    clock.now += 2
    limiter.wait_needed("bulk")
    limiter.block("bulk", seconds=5)

    usage = limiter.usage("bulk")

    assert [(w.used, w.limit, w.per) for w in usage.windows] == [(1, 3, 1.0), (2, 10, 60.0)]
    assert usage.blocked_for == 5
    assert usage.shared is False
    assert limiter.usage("bulk").windows == usage.windows  # reading records nothing


def test_usage_in_redis_is_what_every_worker_did(redis_limits):
    first_worker, second_worker = redis_limits
    first_worker.acquire("bulk", max_wait=0)
    second_worker.acquire("bulk", max_wait=0)
    second_worker.block("bulk", seconds=20)

    usage = first_worker.usage("bulk")

    assert [(w.used, w.limit) for w in usage.windows] == [(2, 3), (2, 100)]
    assert 19 < usage.blocked_for <= 20
    assert usage.shared is True
    assert usage.busiest_share == pytest.approx(2 / 3)
