"""The Klaviyo emulator for a benchmark, in a process of its own (`python -m klaviyo_emulator`),
as Klaviyo is a service of its own: its CPU is counted apart from the benchmark's, its heap
and its garbage collections are its own (the benchmark's 100,000 profiles and Django are
not scanned at each of its collections), it runs on its own interpreter lock, and it gets
the settings of the emulator as a server (klaviyo_emulator/__main__.py)."""

import http.client
import json
import threading
import time
import urllib.parse
from typing import Any

import psutil
from benchenv import run_timed


class EmulatorProcess:
    """`with EmulatorProcess(validate_sample=0) as emulator:` a fresh emulator; `api_url`,
    `state()` (its counters) and `process` (for its CPU time)."""

    def __init__(self, *, validate_sample: int = 0) -> None:
        # 0: no request checked against the spec (the tests check every kind); N: every Nth.
        sample = ["--validate-sample", str(validate_sample)]
        self.args = sample if validate_sample else ["--no-validate"]

    def __enter__(self) -> "EmulatorProcess":
        from klaviyo_emulator.server import EmulatorControl
        from testkit.procs import start_emulator_process

        self._running, self.api_url = start_emulator_process(*self.args)
        self.control = EmulatorControl(self.api_url, timeout=60)
        self.process = psutil.Process(self._running.pid)
        return self

    def state(self) -> dict[str, Any]:
        return self.control.state()

    def cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return times.user + times.system

    def __exit__(self, *exc_info: object) -> None:
        self._running.stop()


def post_and_follow(api_url: str, bodies: list[bytes], concurrency: int) -> tuple[float, int]:
    """Each job body posted from one of `concurrency` threads and its job read until complete,
    each route kept to Klaviyo's limits by the worker's own limiter (a 429 all the same is waited
    out): (seconds, 429s). Polled at once instead, 429s and their whole-second Retry-After, not
    the emulator, made up the time."""
    from django.conf import settings

    from klaviyo_client.limits import RATE_LIMITS
    from klaviyo_client.ratelimit import LocalRateLimiter, parse_limits
    from klaviyo_emulator import DEFAULT_API_KEY

    bodies = list(bodies)
    buckets = {"POST": "profile_bulk_import", "GET": "profile_bulk_import_job"}
    limiter = LocalRateLimiter(
        {bucket: parse_limits(RATE_LIMITS[bucket]) for bucket in buckets.values()},
        margin=settings.KLAVIYO_RATE_LIMIT_MARGIN,
    )
    headers = {
        "Authorization": f"Klaviyo-API-Key {DEFAULT_API_KEY}",
        "revision": "2026-07-15",
        "Accept": "application/vnd.api+json",
        "Content-Type": "application/vnd.api+json",
    }
    lock = threading.Lock()
    throttled = [0]

    def call(connection: http.client.HTTPConnection, method: str, path: str, body=None) -> dict:
        while True:
            limiter.acquire(buckets[method], max_wait=60)
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            if response.status != 429:
                if response.status >= 400:
                    raise SystemExit(
                        f"emulator: {method} {path} {response.status} {answer[:300]!r}"
                    )
                return json.loads(answer)["data"]
            with lock:
                throttled[0] += 1
            time.sleep(float(response.getheader("Retry-After") or 1))

    def client() -> None:
        url = urllib.parse.urlparse(api_url)
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=300)
        while True:
            with lock:
                if not bodies:
                    return
                body = bodies.pop()
            job = call(connection, "POST", "/api/profile-bulk-import-jobs/", body)
            while job["attributes"]["status"] != "complete":
                job = call(connection, "GET", f"/api/profile-bulk-import-jobs/{job['id']}/")

    return run_timed(client, concurrency), throttled[0]
