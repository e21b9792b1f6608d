"""A deadline for receiving a request's body, as WSGI middleware around the Django app.

Under gunicorn a request runs in a worker thread once its headers are in; the body is read
from the socket as the application asks for it, and a client that announces a body and sends
it slowly (or never) would hold that thread for as long as it likes. Here the body is read in
full before Django sees the request, within REQUEST_BODY_TIMEOUT_SECONDS in all (not per read:
a byte every few seconds does not extend it); a client that is slower gets 408 in the error
shape and the connection is closed. Read first, the body also costs no database connection
while it trickles in (authentication comes after).

Only requests gunicorn serves (it gives the socket as `gunicorn.socket`) with a Content-Length
up to MAX_REQUEST_BYTES are read here; the rest go on as they are (core.middleware answers 411
for a chunked body and 413 for an over-size one).
"""

import contextlib
import io
import json
import logging
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings

from core.errors import error_body
from core.metrics import request_observe

logger = logging.getLogger("klaviyo_backend.requests")
CHUNK_BYTES = 64 * 1024

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class BodyTimeout(Exception):
    """The client did not send its whole body in time."""


def body_read_within(stream: Any, sock: Any, length: int, seconds: float) -> bytes:
    """Reads `length` bytes from `stream` (fed by `sock`) by a deadline `seconds` from now;
    fewer if the client closes first. Raises BodyTimeout when the deadline passes."""
    deadline = time.monotonic() + seconds
    previous_timeout = sock.gettimeout()
    chunks: list[bytes] = []
    remaining = length
    try:
        while remaining > 0:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BodyTimeout
            sock.settimeout(left)
            try:
                chunk = stream.read(min(CHUNK_BYTES, remaining))
            except TimeoutError as error:  # socket.timeout
                raise BodyTimeout from error
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    finally:
        with contextlib.suppress(OSError):  # the client is gone
            sock.settimeout(previous_timeout)
    return b"".join(chunks)


class RequestBodyDeadline:
    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        sock = environ.get("gunicorn.socket")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django's middleware answers 400
        if sock is None or not 0 < length <= settings.MAX_REQUEST_BYTES:
            return self.app(environ, start_response)
        started = time.perf_counter()
        try:
            body = body_read_within(
                environ["wsgi.input"], sock, length, settings.REQUEST_BODY_TIMEOUT_SECONDS
            )
        except BodyTimeout:
            # Nothing more is read from this client. Shut now, the read side makes gunicorn's
            # closing linger (up to 2 s per connection, in the worker's main loop, waiting for
            # the client to close first) end at once: a client that never closes can't stall
            # the worker.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RD)
            return self._timed_out(environ, start_response, time.perf_counter() - started)
        environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)

    def _timed_out(
        self, environ: dict[str, Any], start_response: StartResponse, seconds: float
    ) -> Iterable[bytes]:
        timeout = settings.REQUEST_BODY_TIMEOUT_SECONDS
        method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
        # Django never saw this request: its log line and count are written here.
        logger.warning(
            "%s %s 408",
            method,
            path,
            extra={"method": method, "path": path, "status": 408, "duration_ms": seconds * 1000},
        )
        request_observe(method=method, route="body_timeout", status=408, seconds=seconds)
        body = json.dumps(
            error_body(408, [f"The request body did not arrive within {timeout:g} seconds"])
        ).encode()
        start_response(
            "408 Request Timeout",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                # What is left of the body is unread: the connection can't carry a next request.
                ("Connection", "close"),
            ],
        )
        return [body]
