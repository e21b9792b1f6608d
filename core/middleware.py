import logging
import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from core.errors import error_response
from core.logging import request_api_key_var, request_id_var
from core.metrics import request_observe, request_route


class RequestSizeLimitMiddleware:
    """Answers 413 for an announced over-size body before anything reads it, and 411 for a
    chunked body: WSGI servers pass it on without a length and Django would read it as empty
    (a misleading "eventName is required")."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            return error_response(411, ["Send the body with a Content-Length header, not chunked"])
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(400, ["Content-Length header is invalid"])
        if length > settings.MAX_REQUEST_BYTES:
            return error_response(
                413, [f"Request body is larger than {settings.MAX_REQUEST_BYTES} bytes"]
            )
        return self.get_response(request)


# A client's X-Request-ID is kept when it looks like an id; anything else is replaced.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
request_logger = logging.getLogger("klaviyo_backend.requests")


class RequestLogMiddleware:
    """Gives every request an id (X-Request-ID in and out), and writes one structured log line
    per request: method, path, status, duration_ms, the API key's name, request_id. Also feeds
    the request metrics of /metrics. Outermost, so that even a 413 is logged and counted."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if REQUEST_ID_PATTERN.fullmatch(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        id_token = request_id_var.set(request_id)
        key_token = request_api_key_var.set(request.META.get(settings.API_KEY_CUSTOM_HEADER))
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            duration = time.perf_counter() - started
            response["X-Request-ID"] = request_id
            self._record(request, response.status_code, duration)
            return response
        except Exception:
            # Django turns exceptions into responses before they get here; this is the backstop.
            self._record(request, 500, time.perf_counter() - started)
            raise
        finally:
            request_api_key_var.reset(key_token)
            request_id_var.reset(id_token)

    def _record(self, request: HttpRequest, status: int, duration: float) -> None:
        client = getattr(request, "auth", None)
        route = request_route(request)
        request_observe(method=request.method or "", route=route, status=status, seconds=duration)
        request_logger.info(
            "%s %s %s",
            request.method,
            request.path,
            status,
            extra={
                "method": request.method,
                "path": request.path,
                "status": status,
                "duration_ms": round(duration * 1000, 2),
                "api_key": getattr(client, "name", None),
                "request_id": request.request_id,
            },
        )
