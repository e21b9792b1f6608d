"""gunicorn settings that `manage.py serve` loads (`--config python:<this module>`); its
command-line options (bind, workers, worker class, threads) come on top.

gunicorn answers some requests itself, before the application sees them: a malformed request
line or header, or a transfer coding it can't read (400), a request line over
`limit_request_line` (414), too many or too large header fields (431). By default those answers
are HTML; here they come in the API's JSON error shape, like every other error.
"""

import gc
import json
from typing import Any

from gunicorn import util

from core import http_limits

# gunicorn's own limits, stated because the README and the OpenAPI document give them.
limit_request_line = http_limits.LIMIT_REQUEST_LINE
limit_request_fields = http_limits.LIMIT_REQUEST_FIELDS
limit_request_field_size = http_limits.LIMIT_REQUEST_FIELD_SIZE

_PHRASES = {413: "Payload Too Large"}


def _json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn.util.write_error, but the body in the error shape of core.errors (which needs
    Django's settings, not loaded in gunicorn's master: the shape is written out here)."""
    body = json.dumps(
        {
            "statusCode": status_int,
            "message": [mesg or reason],
            "error": _PHRASES.get(status_int, reason),
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode("latin-1")
    util.write_nonblock(sock, head + body)


# Workers call util.write_error at the time of the error (gunicorn.workers.base.handle_error),
# so replacing it here, when gunicorn loads this file, changes every worker's answers.
util.write_error = _json_error


def post_worker_init(worker: Any) -> None:
    """Once a worker has loaded the app: its URLconf and views imported now rather than at the
    first request, then everything loaded so far (about 100,000 objects that live as long as the
    worker) frozen out of the garbage collector's sight (gc.freeze, as Instagram does under
    uWSGI). A full collection walked them all, about 50 ms with the GIL held: every request of
    the worker stood still meanwhile."""
    from django.apps import apps
    from django.urls import get_resolver

    if apps.ready:  # not for an app of another kind served by `serve --app` (bench/single.py)
        get_resolver().url_patterns  # noqa: B018 - imports the URLconf
    gc.collect()  # what is garbage already goes now, not into the frozen generation
    gc.freeze()
