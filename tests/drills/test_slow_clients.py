"""Drill: slow clients. The production server (`manage.py serve`: gunicorn, two workers as by
default) gets 50 connections that each send a POST's headers with `Content-Length: 100000` and
one byte of body, then nothing. Meanwhile /health and POST /events must keep answering, each
within 2 s (the goal is a second, the margin is for a loaded CI machine; two sync workers
answered after 30 s, or never), and the slow requests are cut off at REQUEST_BODY_TIMEOUT_SECONDS
with a 408 in the error shape. Also: the errors gunicorn answers itself come as JSON.
bench/slow_clients.py measures the same against the worker models considered.
"""

import json
import os
import socket
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from events.models import Event
from testkit.procs import Process, database_url, free_port, start_process, wait_until

# Transactional, every test of the module: they then stay together in pytest-django's order
# (transactional tests after the others), on the one server of the module.
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

API_KEY = "drill-slow-clients-key"
SLOW_CLIENTS = 50
BODY_TIMEOUT = 6  # seconds: long enough for the probes, short enough for the test
PROBE_BOUND = 2.0  # seconds


@pytest.fixture(scope="module")
def served(django_db_setup: None) -> Iterator[tuple[Process, int]]:
    """`manage.py serve` on the test database, answering once /health does: one for the
    module (it takes seconds to start and to stop). A test leaves it as it found it: every
    connection it opened answered and closed; the rows it made are flushed (transactional)."""
    port = free_port()
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("PYTEST")},
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": "",
        "KLAVIYO_API_KEY": "",
        "DEBUG": "false",
        "SECRET_KEY": "drill-secret-key",
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "API_KEYS": API_KEY,
        "REQUEST_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
        "LOG_FORMAT": "plain",
    }
    args = [sys.executable, "manage.py", "serve", "--no-migrate", "--port", str(port)]
    server = start_process("serve", [*args, "--bind", "127.0.0.1"], env=env)
    try:
        wait_until(lambda: _health(port) is not None, timeout=60, what="serve /health")
        yield server, port
    finally:
        server.stop()


def _health(port: int) -> requests.Response | None:
    try:
        return requests.get(f"http://127.0.0.1:{port}/health", timeout=5)
    except requests.RequestException:
        return None


def slow_request(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(
        b"POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"X-API-Key: {API_KEY}\r\nContent-Length: 100000\r\n\r\n{{".encode()
    )
    return sock


def answer_of(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def json_answer(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"application/json" in head.lower(), head
    return status, json.loads(body)


def test_fifty_slow_clients_leave_health_and_ingest_answering(served):
    _, port = served
    url = f"http://127.0.0.1:{port}"
    slow = [slow_request(port) for _ in range(SLOW_CLIENTS)]
    time.sleep(0.5)  # every slow request has reached a worker
    opened = time.monotonic()

    timings: list[tuple[str, int, float]] = []
    while time.monotonic() - opened < BODY_TIMEOUT - 2:
        started = time.monotonic()
        health = requests.get(f"{url}/health", timeout=30)
        timings.append(("health", health.status_code, time.monotonic() - started))
        started = time.monotonic()
        event = {"eventName": "Slow Client Probe", "email": f"p{len(timings)}@example.com"}
        created = requests.post(f"{url}/events", json=event, headers={"X-API-Key": API_KEY})
        timings.append(("events", created.status_code, time.monotonic() - started))

    assert len(timings) >= 10, timings
    assert all(status in (200, 201) for _, status, _ in timings), timings
    slowest = max(seconds for _, _, seconds in timings)
    assert slowest < PROBE_BOUND, timings
    assert Event.objects.filter(event_name="Slow Client Probe").count() == len(timings) // 2

    # The slow requests are answered 408 at the body deadline, and their connections closed;
    # the server does not wait for these clients to close first, nor do the probes wait.
    time.sleep(BODY_TIMEOUT - (time.monotonic() - opened) + 1)
    started = time.monotonic()
    assert requests.get(f"{url}/health", timeout=30).status_code == 200
    assert time.monotonic() - started < PROBE_BOUND
    for sock in slow:
        status, body = json_answer(answer_of(sock))
        assert status == 408
        assert body == {
            "statusCode": 408,
            "message": [f"The request body did not arrive within {BODY_TIMEOUT} seconds"],
            "error": "Request Timeout",
        }
        sock.close()
    assert time.monotonic() - opened < BODY_TIMEOUT + 10
    assert not Event.objects.exclude(event_name="Slow Client Probe").exists()


@pytest.mark.parametrize(
    ("request_head", "status", "error"),
    [
        (b"GET /events?q=" + b"x" * 9000 + b" HTTP/1.1\r\n", 414, "URI Too Long"),
        (
            b"GET /health HTTP/1.1\r\n" + b"".join(b"X-H%d: 1\r\n" % i for i in range(101)),
            431,
            "Request Header Fields Too Large",
        ),
        (b"GET /health HTTP/1.1\r\nX-Big: " + b"y" * 9000 + b"\r\n", 431, None),
        (b"NOT A REQUEST LINE\r\n", 400, "Bad Request"),
    ],
    ids=["long-request-line", "too-many-headers", "huge-header", "malformed"],
)
def test_errors_gunicorn_answers_itself_are_in_the_error_shape(served, request_head, status, error):
    _, port = served
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request_head + b"Host: 127.0.0.1\r\n\r\n")
        answered, body = json_answer(answer_of(sock))
    assert answered == status
    assert body["statusCode"] == status
    assert isinstance(body["message"], list) and all(isinstance(m, str) for m in body["message"])
    assert body["error"] == (error or body["error"])
    assert set(body) == {"statusCode", "message", "error"}
