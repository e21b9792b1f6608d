"""Drill 3: the worker is killed (SIGKILL) in the middle of a batch and started again at once.
With the production defaults (a send lease of about 50 s derived from the client's timeouts, a
sweep every 10 s, Redis's hour-long visibility timeout) the batch is sent again within two
minutes, and only the part Klaviyo may not have: the request that was in flight, not the one it
had already accepted. Every event ends up in Klaviyo once."""

import time
from collections import Counter

import pytest
from django.conf import settings

from events.models import Event, SyncStatus
from testkit.procs import wait_until
from testkit.stack import assert_all_sent_exactly_once
from tests.drills.payloads import bulk_events

pytestmark = pytest.mark.e2e

BATCH = 1000  # a full batch (Klaviyo's most events per bulk job)
# Bytes per bulk body: each batch of these events goes in two requests.
TWO_BODIES = 200_000
RECOVERY_SECONDS = 120  # issue 13


def test_a_batch_cut_by_a_killed_worker_goes_again_within_two_minutes_only_for_its_rest(
    start_stack, api_client
):
    stack = start_stack(KLAVIYO_BULK_MAX_BYTES=str(TWO_BODIES))
    stack.start_beat()
    store = stack.emulator.store
    # Each answer takes 3 s: the first body of batch A is answered (and recorded), the second
    # is with Klaviyo when the worker dies. Batch B waits in the broker.
    stack.emulator.faults.configure({"latency_ms": 3000})
    for name in ("a", "b"):
        response = api_client.post(
            "/events/bulk", {"events": bulk_events(f"killed-{name}", BATCH)}, format="json"
        )
        assert response.status_code == 201, response.content
    wait_until(
        lambda: Event.objects.filter(sync_status=SyncStatus.SENT).exists(),
        timeout=30,
        what="the first body is answered and recorded",
    )
    accepted = Event.objects.filter(sync_status=SyncStatus.SENT).count()
    wait_until(lambda: store.events_received == BATCH, timeout=10, what="the second body is sent")

    stack.worker.kill()
    killed_at = time.monotonic()
    stack.emulator.faults.clear()
    assert 0 < accepted < BATCH
    assert Event.objects.filter(sync_status=SyncStatus.SENT).count() == accepted
    held = Event.objects.filter(sync_status=SyncStatus.PENDING, attempts=1)
    assert held.count() == BATCH - accepted  # claimed, in flight, never answered
    stack.start_worker()
    stack.wait_until_settled(timeout=RECOVERY_SECONDS + 30)
    recovery = time.monotonic() - killed_at

    print(
        f"\nrecovery after the kill: {recovery:.1f} s "
        f"(lease {settings.KLAVIYO_SEND_LEASE_SECONDS} s)"
    )
    assert recovery < RECOVERY_SECONDS
    # Not before the lease: no second worker took the rows while the first could still send.
    assert recovery > settings.KLAVIYO_SEND_LEASE_SECONDS - 10
    stored = assert_all_sent_exactly_once(stack, received={1, 2})
    assert len(stored) == 2 * BATCH
    received = Counter(store.received_by_unique_id[uid] for uid in stored)
    # Sent twice: only the body that was in flight. Batch B and A's first body: once.
    assert received == {2: BATCH - accepted, 1: BATCH + accepted}
    assert Counter(Event.objects.values_list("attempts", flat=True)) == {
        2: BATCH - accepted,
        1: BATCH + accepted,
    }
