"""Drills 1 and 2: Klaviyo is down (503) for two minutes, then throttles (429 + Retry-After);
every accepted event still reaches it once, through a real worker and the emulator."""

import time

import pytest

from events.models import Event
from testkit.stack import assert_all_sent_exactly_once
from tests.drills.payloads import AnswerLog, bulk_events, single_event

pytestmark = pytest.mark.e2e

# Simulated time: 1 real second stands for 40 seconds. The outage of 2 minutes lasts 3 real
# seconds; the worker's retries back off from 0.2 s to 1 s real (8 s to 40 s simulated:
# FAST_WORKER_SETTINGS), so several rounds of retries fall inside the outage.
SCALE = 40
OUTAGE_SECONDS = 120 / SCALE
BULK_PATH = "/api/event-bulk-create-jobs"
SINGLE_PATH = "/api/events"


def post_events(api_client, prefix: str) -> int:
    """Two bulk batches (sent as bulk jobs) and three single events (one call each)."""
    for batch in ("a", "b"):
        events = bulk_events(f"{prefix}-{batch}", 100)
        response = api_client.post("/events/bulk", {"events": events}, format="json")
        assert response.status_code == 201, response.content
    for index in range(3):
        response = api_client.post("/events", single_event(f"{prefix}-{index}"), format="json")
        assert response.status_code == 201, response.content
    return 203


def test_it_sends_every_event_once_after_klaviyo_answered_503_for_two_minutes(
    start_stack, api_client
):
    """Simulated time, scale 1:40: the 2-minute outage lasts 3 s, the retry delays of 8 s to
    40 s last 0.2 s to 1 s."""
    # Enough attempts for the outage at any speed of this machine (8 would end by ~5 s).
    stack = start_stack(KLAVIYO_MAX_ATTEMPTS="15")
    answers = AnswerLog(stack.emulator)
    # Down from before the first post; the two simulated minutes are counted from the last
    # post, so that every event's first attempt meets the outage however slowly this machine
    # posts them (the three single events come after two bulk requests of 100).
    stack.emulator.faults.configure({"status": 503, "seconds": 600})
    accepted = post_events(api_client, "outage")
    [outage] = stack.emulator.faults.statuses
    outage_ends = time.monotonic() + OUTAGE_SECONDS  # the emulator's clock too
    outage.until = outage_ends

    stack.wait_until_settled()

    stored = assert_all_sent_exactly_once(stack)
    assert len(stored) == Event.objects.count() == accepted
    attempts = set(Event.objects.values_list("attempts", flat=True))
    assert min(attempts) >= 2  # every first attempt met the outage
    assert max(attempts) >= 3  # and retries met it again: several rounds
    refused = answers.with_status(503)
    assert {answer.path for answer in refused} == {BULK_PATH, SINGLE_PATH}
    # The retries went on to the end of the outage (the last 503 within one longest retry
    # delay of it, plus some slack), and nothing went through before it ended.
    longest_delay = float(stack.env["KLAVIYO_RETRY_MAX_DELAY"]) * 1.1
    assert refused[-1].arrived >= outage_ends - longest_delay - 0.5
    taken = [answer for answer in answers.answers if answer.status in (201, 202)]
    assert min(answer.arrived for answer in taken) >= outage_ends
    assert stack.emulator.store.responses_by_status[503] == len(refused)


def test_it_waits_for_retry_after_while_klaviyo_throttles_and_sends_each_event_once(
    start_stack, api_client
):
    stack = start_stack()
    answers = AnswerLog(stack.emulator)
    # Retry-After above the worker's longest retry delay (1 s) and the 1 s it assumes when
    # Klaviyo gives none: only honouring the header keeps to it.
    throttled_for, retry_after = 4, 2
    # Bulk jobs are throttled for 4 s from the first post; the single-event endpoint on its
    # first call, whenever the worker gets to it (one pool process: it may come after the bulk
    # batches have waited out their Retry-After, and so after any fixed window).
    stack.emulator.faults.configure(
        {"status": 429, "seconds": throttled_for, "retry_after": retry_after, "path": BULK_PATH}
    )
    stack.emulator.faults.configure(
        {"status": 429, "count": 1, "retry_after": retry_after, "path": SINGLE_PATH}
    )
    accepted = post_events(api_client, "throttled")

    stack.wait_until_settled()

    stored = assert_all_sent_exactly_once(stack)
    assert len(stored) == accepted
    assert Event.objects.filter(attempts__gte=2).exists()
    for path in (BULK_PATH, SINGLE_PATH):
        calls = answers.to(path)
        throttles = [answer for answer in calls if answer.status == 429]
        assert throttles, f"no 429 at {path}"
        assert {answer.retry_after for answer in throttles} == {retry_after}
        # Honoured: after each 429, no call to that endpoint before Retry-After had passed
        # (every worker pauses the endpoint), so a few 429s at most while it throttles.
        for throttle in throttles:
            later = [answer for answer in calls if answer.arrived > throttle.answered]
            assert all(
                answer.arrived >= throttle.answered + retry_after - 0.05 for answer in later
            ), f"{path} called again before Retry-After"
        assert len(throttles) <= throttled_for // retry_after + 1
