"""What a test does when this machine lacks a service or program it needs (Redis,
redis-server, Chromium): it skips, naming what to install, unless the environment requires
them (REQUIRE_TEST_SERVICES=1, as .ci/run sets): then it fails, as CI must never skip them."""

from __future__ import annotations

import pytest

from testkit.procs import REQUIRE_TEST_SERVICES


def unavailable(reason: str) -> None:
    """Skips the test with `reason`, or fails it when services are required."""
    if REQUIRE_TEST_SERVICES:
        pytest.fail(f"{reason} (REQUIRE_TEST_SERVICES is set)", pytrace=False)
    pytest.skip(reason)
