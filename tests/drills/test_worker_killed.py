"""Drill 3: the worker is killed (SIGKILL) while its bulk requests are in flight, and started
again; every event of the three 1,000-event batches reaches Klaviyo, stored once each."""

from collections import Counter

import pytest

from events.models import Event, SyncStatus
from testkit.procs import wait_until
from testkit.stack import assert_all_sent_exactly_once
from tests.drills.payloads import bulk_events

pytestmark = pytest.mark.e2e

BATCH = 1000  # a full bulk request (Klaviyo's most events per job)


def test_it_sends_three_full_batches_once_each_across_a_worker_killed_mid_request(
    start_stack, api_client
):
    # Two pool processes: two bulk requests in flight when the worker dies, the third batch
    # still queued. Klaviyo takes both requests, but its answers come too late.
    stack = start_stack(concurrency=2)
    store = stack.emulator.store
    stack.emulator.faults.configure({"latency_ms": 20_000})
    for batch in range(3):
        events = bulk_events(f"killed-{batch}", BATCH, profiles=50)
        response = api_client.post("/events/bulk", {"events": events}, format="json")
        assert response.status_code == 201, response.content
    wait_until(
        lambda: store.events_received == 2 * BATCH,
        timeout=30,
        what="two batches reach Klaviyo",
    )

    stack.worker.kill()
    stack.emulator.faults.clear()
    assert Event.objects.filter(sync_status=SyncStatus.PENDING).count() == 3 * BATCH
    assert Event.objects.filter(attempts=1).count() == 2 * BATCH  # claimed, never recorded
    stack.wait_for_redelivery()
    stack.start_worker()
    stack.wait_until_settled()

    stored = assert_all_sent_exactly_once(stack, received={1, 2})
    assert len(stored) == 3 * BATCH
    # The two batches in flight were sent again (stored once: unique_id), the third once.
    received = Counter(store.received_by_unique_id[uid] for uid in stored)
    assert received == {2: 2 * BATCH, 1: BATCH}
    assert Counter(Event.objects.values_list("attempts", flat=True)) == {2: 2 * BATCH, 1: BATCH}
    assert store.requests_by_endpoint["POST /api/event-bulk-create-jobs/"] == 5
