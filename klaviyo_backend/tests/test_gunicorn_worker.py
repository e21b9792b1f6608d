"""The gunicorn worker `manage.py serve` runs (klaviyo_backend/gunicorn_worker.py), serving a
small app with one thread a worker, so that which request a thread takes up next shows."""

import http.client
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from klaviyo_backend import gunicorn_worker
from testkit.procs import GUNICORN, free_port, start_process, wait_until

WORKER = "klaviyo_backend.gunicorn_worker.KeepAliveThreadWorker"


def _serve(workers: int) -> Iterator[int]:
    port = free_port()
    args = [GUNICORN, "klaviyo_backend.tests.hello_app:app", "--bind", f"127.0.0.1:{port}"]
    args += ["--workers", str(workers), "--threads", "1", "--worker-class", WORKER]
    process = start_process("gunicorn-worker", [*args, "--no-control-socket"], env={})
    try:
        wait_until(lambda: _connects(port), timeout=30, what="gunicorn")
        yield port
    finally:
        process.stop()


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    """One worker of one thread."""
    yield from _serve(workers=1)


@pytest.fixture(scope="module")
def two_workers() -> Iterator[int]:
    """Two workers of one thread each."""
    yield from _serve(workers=2)


def _connects(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _connection(port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port, timeout=10)


def _get(connection: http.client.HTTPConnection, path: str = "/") -> int:
    connection.request("GET", path)
    response = connection.getresponse()
    assert response.status == 200
    return int(response.read())


def test_it_answers_a_kept_alive_connections_requests_one_after_another(server):
    connection = _connection(server)

    numbers = [_get(connection) for _ in range(3 * gunicorn_worker.REQUESTS_IN_A_ROW)]

    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)


def test_a_connection_that_was_idle_is_answered_when_it_sends_again(server):
    connection = _connection(server)
    _get(connection)

    time.sleep(20 * gunicorn_worker.LINGER_SECONDS)  # its thread gave it back to the poller

    assert _get(connection) > 0


def test_pipelined_requests_are_all_answered(server):
    with socket.create_connection(("127.0.0.1", server), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
        received = b""
        while received.count(b"200 OK") < 3:
            chunk = sock.recv(65536)
            assert chunk, f"closed after {received!r}"
            received += chunk


def test_the_thread_takes_up_its_connections_next_request_before_a_queued_one(server):
    """A connection's next request, sent as soon as its answer came, goes ahead of a request
    that waited for the thread meanwhile: it didn't go through the poller and the queue.
    (Plain gthread serves the queued one first, always.) On a busy machine the client may
    take longer than the linger to send again, so one try in three is enough."""
    outcomes = []
    for _ in range(3):
        first, other = _connection(server), _connection(server)
        first.request("GET", "/slow")  # holds the only thread 0.2 s
        time.sleep(0.05)
        other.request("GET", "/")  # queued for the thread
        first.getresponse().read()
        next_of_first = _get(first)
        outcomes.append(next_of_first < int(other.getresponse().read()))
    assert any(outcomes)


def test_a_connection_sending_without_pause_leaves_the_thread_to_others(server):
    """One client posting back to back must not keep the only thread: after REQUESTS_IN_A_ROW
    of its requests, a request of another connection waiting for the thread is taken up."""
    busy, stop, served = _connection(server), threading.Event(), []
    deadline = time.monotonic() + 20

    def post_without_pause() -> None:
        while not stop.is_set() and time.monotonic() < deadline:
            served.append(_get(busy))

    hammer = threading.Thread(target=post_without_pause)
    hammer.start()
    try:
        wait_until(lambda: len(served) > 20, timeout=10)
        busy_so_far = served[-1]
        other = _get(_connection(server))
        answered_at = time.monotonic()
    finally:
        stop.set()
        hammer.join()

    assert answered_at < deadline - 5  # not once the busy client stopped
    # Taken up within a few rows of the busy connection's requests, not thousands: the new
    # connection waits for the main thread to accept it, a row or two on a loaded machine.
    assert other < busy_so_far + 5 * gunicorn_worker.REQUESTS_IN_A_ROW


def test_a_worker_with_every_thread_busy_leaves_new_connections_to_the_others(two_workers):
    """Plain gthread accepts whatever it can hold: a new connection goes to either worker, and
    to the busy one about half the time, where it waits for the thread."""
    for _ in range(4):
        holder = _connection(two_workers)
        holder.request("GET", "/slow?seconds=1.5")
        time.sleep(0.3)  # its worker has taken it up
        started = time.monotonic()
        _get(_connection(two_workers))
        took = time.monotonic() - started
        assert holder.getresponse().status == 200
        assert took < 1.0
