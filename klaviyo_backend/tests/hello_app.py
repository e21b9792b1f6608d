"""A WSGI app for the worker's tests: it answers each request with its number in this process
(in the order the worker took them up), after a pause for `/slow`."""

import itertools
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

_numbers = itertools.count(1)
_lock = threading.Lock()


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    with _lock:
        number = next(_numbers)
    if environ["PATH_INFO"] == "/slow":
        time.sleep(0.2)
    body = str(number).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
