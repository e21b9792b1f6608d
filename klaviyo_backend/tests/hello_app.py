"""A WSGI app for the worker's tests: it answers each request with its number in this process
(in the order the worker took them up), after a pause for `/slow` (`?seconds=`, 0.2 by default)."""

import itertools
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

_numbers = itertools.count(1)
_lock = threading.Lock()


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    with _lock:
        number = next(_numbers)
    if environ["PATH_INFO"] == "/slow":
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        time.sleep(float(query.get("seconds", ["0.2"])[0]))
    body = str(number).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
