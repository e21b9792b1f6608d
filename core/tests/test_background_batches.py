"""A process's background delivery: small lists gathered for a window and delivered in one call
from a thread of its own; what waits is delivered by flush(), at exit, and never by two
processes after a fork."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.background_batches import BackgroundBatches

ROOT = Path(__file__).resolve().parents[2]


class Delivered:
    """The deliver callable: records each call's items and the thread that made it."""

    def __init__(self, fail_first: int = 0) -> None:
        self.calls: list[tuple[list[int], str]] = []
        self.fail_first = fail_first
        self.event = threading.Event()

    def __call__(self, items: list[int]) -> None:
        if self.fail_first:
            self.fail_first -= 1
            raise ConnectionError("broker down")
        self.calls.append((list(items), threading.current_thread().name))
        self.event.set()

    def wait(self, count: int = 1, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.calls) < count and time.monotonic() < deadline:
            time.sleep(0.005)

    @property
    def items(self) -> list[list[int]]:
        return [items for items, _ in self.calls]


def batches(deliver: Delivered, *, window: float, max_batch: int = 100) -> BackgroundBatches:
    return BackgroundBatches(deliver, window=lambda: window, max_batch=max_batch, name="test-bg")


def test_lists_added_within_the_window_are_delivered_together_by_its_thread():
    deliver = Delivered()
    gathered = batches(deliver, window=0.2)

    started = time.monotonic()
    for items in ([1], [2, 3], [4]):
        gathered.add(items)
    assert deliver.calls == []  # the adding thread delivers nothing
    deliver.wait()

    assert deliver.calls == [([1, 2, 3, 4], "test-bg")]
    assert 0.15 <= time.monotonic() - started < 3


def test_a_full_batch_is_delivered_without_waiting_for_the_window():
    deliver = Delivered()
    gathered = batches(deliver, window=60, max_batch=3)

    gathered.add([1, 2])
    gathered.add([3, 4])
    deliver.wait()

    assert deliver.items == [[1, 2, 3]]  # at most max_batch in one call
    gathered.flush()
    assert deliver.items == [[1, 2, 3], [4]]


def test_flush_delivers_what_waits_in_the_calling_thread():
    deliver = Delivered()
    gathered = batches(deliver, window=60, max_batch=2)
    gathered.add([1])
    gathered.add([2])
    deliver.wait()
    gathered.add([3, 4, 5])

    gathered.flush()

    assert deliver.calls[0] == ([1, 2], "test-bg")
    assert deliver.calls[1:] == [([3, 4], "MainThread"), ([5], "MainThread")]
    gathered.flush()  # nothing left
    assert len(deliver.calls) == 3


def test_a_failed_delivery_is_logged_and_what_comes_next_is_delivered(caplog):
    deliver = Delivered(fail_first=1)
    gathered = batches(deliver, window=0.01)

    gathered.add([1])
    deadline = time.monotonic() + 5
    while "could not deliver 1 items" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.01)
    gathered.add([2])
    deliver.wait()

    assert "test-bg: could not deliver 1 items" in caplog.text
    assert deliver.items == [[2]]


def test_a_forked_child_starts_empty_and_delivers_only_its_own():
    deliver = Delivered()
    gathered = batches(deliver, window=60)
    gathered.add([1, 2])  # the parent's, waiting in the parent
    read, write = os.pipe()

    pid = os.fork()
    if pid == 0:  # the child: reports what it delivers, then leaves without atexit
        try:
            gathered.add([3])
            gathered.flush()
            os.write(write, json.dumps(deliver.items[len(deliver.items) - 1 :]).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child_delivered = json.loads(pipe.read())
    os.waitpid(pid, 0)

    assert child_delivered == [[3]]
    assert deliver.items == []  # the parent's still wait, for the parent to deliver
    gathered.flush()
    assert deliver.items == [[1, 2]]


@pytest.mark.parametrize("ending", ["returns", "sys.exit"])
def test_what_waits_is_delivered_when_the_process_exits(ending):
    script = f"""
import sys
from core.background_batches import BackgroundBatches
gathered = BackgroundBatches(
    lambda items: print("delivered", items, flush=True),
    window=lambda: 60, max_batch=100, name="exit-test",
)
gathered.add([7, 8])
if "{ending}" == "sys.exit":
    sys.exit(0)
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "klaviyo_backend.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout == "delivered [7, 8]\n"
