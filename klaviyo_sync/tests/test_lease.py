"""The send lease and the recovery time it gives with the production defaults: the drills run
with these very numbers, and this pins them whatever the test environment sets."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from klaviyo_sync.lease import CLAIM_TOLERANCE, SendClock, request_seconds, send_lease_seconds

PROJECT_DIR = Path(__file__).resolve().parents[2]
RECOVERY_SECONDS = 120  # issue 13: a killed worker's batch is sent again within two minutes


@pytest.fixture(scope="module")
def production_defaults() -> dict:
    """The sync's settings in a process whose environment sets none of them."""
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({k: getattr(s, k) for k in ("
        "'KLAVIYO_SEND_LEASE_SECONDS', 'SYNC_SWEEP_INTERVAL_SECONDS', "
        "'SYNC_STALE_PENDING_SECONDS', 'KLAVIYO_RATE_LIMIT_MAX_WAIT', "
        "'KLAVIYO_CONNECT_TIMEOUT', 'KLAVIYO_READ_TIMEOUT')}))"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "klaviyo_backend.settings",
        "DATABASE_URL": "sqlite:///:memory:",
    }
    # No .env file is read over these: settings.py reads one only from the project folder,
    # where a developer's would count as theirs, not the defaults.
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_lease_is_one_request_with_its_rate_limit_wait_plus_setup_and_tolerance():
    one_request = request_seconds(rate_limit_max_wait=20, connect_timeout=3.05, read_timeout=15)
    assert one_request == pytest.approx(38.05)
    assert send_lease_seconds(rate_limit_max_wait=20, connect_timeout=3.05, read_timeout=15) == 49
    # Longer timeouts, longer lease: never shorter than what a request may take.
    assert send_lease_seconds(rate_limit_max_wait=60, connect_timeout=10, read_timeout=60) == 140


def test_with_the_production_defaults_a_dead_workers_batch_goes_again_within_two_minutes(
    production_defaults,
):
    lease = production_defaults["KLAVIYO_SEND_LEASE_SECONDS"]
    sweep = production_defaults["SYNC_SWEEP_INTERVAL_SECONDS"]
    one_request = request_seconds(
        rate_limit_max_wait=production_defaults["KLAVIYO_RATE_LIMIT_MAX_WAIT"],
        connect_timeout=production_defaults["KLAVIYO_CONNECT_TIMEOUT"],
        read_timeout=production_defaults["KLAVIYO_READ_TIMEOUT"],
    )
    assert (lease, sweep) == (49, 10)
    # Worst case: the claim is taken just before the kill; the lease runs out just after a
    # sweep; the next sweep queues the batch; its send waits the longest for the limiter and
    # for Klaviyo's answer.
    assert lease + sweep + one_request < RECOVERY_SECONDS
    # A task lost in the broker is still the sweeper's after the stale threshold.
    assert production_defaults["SYNC_STALE_PENDING_SECONDS"] == 600


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_send_clock_never_starts_a_request_that_could_end_after_the_lease(monkeypatch):
    fake = FakeTime()
    monkeypatch.setattr("klaviyo_sync.lease.time.monotonic", fake)
    clock = SendClock(
        lease_seconds=49, connect_timeout=3.05, read_timeout=15, rate_limit_max_wait=20
    )
    usable = 49 - CLAIM_TOLERANCE.total_seconds()

    assert clock.rate_limit_wait_allowed() == 20  # 44 s left: a full wait fits
    fake.now += 10
    assert clock.rate_limit_wait_allowed() == pytest.approx(usable - 10 - 18.05)
    fake.now = 1000 + usable - 18.05 - 0.01  # one request without waiting still fits
    assert clock.rate_limit_wait_allowed() == pytest.approx(0.01)
    fake.now += 0.02
    assert clock.rate_limit_wait_allowed() is None
