"""Drill 7: a burst of 400 concurrent `POST /cleanup/manual` against the production server
(`manage.py serve`) on MariaDB. Many collide on the purge lock's unique index, where InnoDB
picks deadlock victims; before, one such deadlock while a run recorded its outcome left it
`running` with the lock, and every purge was refused (409) until the 10-minute stale takeover.
Now each request ends as a purge (200), a refusal naming the running one (409) or a 503 whose
run is recorded failed; no run is left `queued` or `running`, and the next purge runs.

MySQL/MariaDB only: SQLite serializes writers, so there is no deadlock to survive there.
"""

import os
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection

from cleanup.models import PurgeOutcome, PurgeRun
from testkit.procs import Process, broker_url, database_url, free_port, start_process, wait_until

pytestmark = pytest.mark.e2e

API_KEY = "drill-purge-burst-key"
BURST = 400
CLIENTS = 64  # at once: the burst is bounded, as a client's pool would be


@pytest.fixture
def served(transactional_db: None) -> Iterator[str]:
    port = free_port()
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("PYTEST")},
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker_url(),
        "KLAVIYO_API_KEY": "",
        "DEBUG": "false",
        "SECRET_KEY": "drill-secret-key",
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "API_KEYS": API_KEY,
        "LOG_FORMAT": "plain",
    }
    args = [sys.executable, "manage.py", "serve", "--no-migrate", "--port", str(port)]
    server: Process = start_process("serve", [*args, "--bind", "127.0.0.1"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url), timeout=60, what="serve /health")
        yield url
    finally:
        server.stop()


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/health", timeout=5).status_code in (200, 503)
    except requests.RequestException:
        return False


def manual_purge(url: str) -> int:
    response = requests.post(
        f"{url}/cleanup/manual", json={}, headers={"X-API-Key": API_KEY}, timeout=120
    )
    if response.status_code not in (200, 409, 503):
        raise AssertionError(f"{response.status_code}: {response.text[:500]}")
    return response.status_code


if connection.vendor == "mysql":

    def test_after_a_burst_of_manual_purges_the_lock_is_free_and_the_next_purge_runs(served):
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            statuses = Counter(pool.map(lambda _: manual_purge(served), range(BURST)))

        print(f"\nburst of {BURST}: {dict(statuses)}")
        assert statuses[200] >= 1
        runs = Counter(PurgeRun.objects.values_list("outcome", flat=True))
        print(f"runs recorded: {dict(runs)}")
        assert runs[PurgeOutcome.QUEUED] == runs[PurgeOutcome.RUNNING] == 0
        assert not PurgeRun.objects.filter(running_lock__isnull=False).exists()
        # Each answer has its run: succeeded, skipped (409) or failed (503).
        assert runs[PurgeOutcome.SUCCEEDED] == statuses[200]
        assert runs[PurgeOutcome.SKIPPED] == statuses[409]
        assert runs[PurgeOutcome.FAILED] == statuses[503]

        assert manual_purge(served) == 200
