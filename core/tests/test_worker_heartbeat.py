"""Each Celery worker records that it is alive, for /health."""

import time
from types import SimpleNamespace

import pytest

from core.models import WorkerHeartbeat
from klaviyo_backend.celery import app as celery_app
from klaviyo_backend.worker_heartbeat import WorkerHeartbeatStep


def test_every_worker_runs_the_heartbeat_step():
    assert WorkerHeartbeatStep in celery_app.steps["worker"]


@pytest.mark.django_db(transaction=True)
def test_the_step_records_the_worker_until_it_stops(settings):
    settings.WORKER_HEARTBEAT_SECONDS = 0.1
    step = WorkerHeartbeatStep(SimpleNamespace())
    worker = SimpleNamespace(hostname="celery@test-host")

    step.start(worker)
    deadline = time.monotonic() + 10
    seen = []
    while len(set(seen)) < 3 and time.monotonic() < deadline:
        seen += WorkerHeartbeat.objects.filter(hostname="celery@test-host").values_list(
            "seen_at", flat=True
        )
        time.sleep(0.05)
    step.stop(worker)

    assert len(set(seen)) >= 3  # beat again and again, one row
    assert WorkerHeartbeat.objects.count() == 1
    assert not step._thread.is_alive()
    last = WorkerHeartbeat.objects.get().seen_at
    time.sleep(0.3)
    assert WorkerHeartbeat.objects.get().seen_at == last  # stopped: no more beats
