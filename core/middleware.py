from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from core.errors import error_response


class RequestSizeLimitMiddleware:
    """Answers 413 for an announced over-size body before anything reads it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(400, ["Content-Length header is invalid"])
        if length > settings.MAX_REQUEST_BYTES:
            return error_response(
                413, [f"Request body is larger than {settings.MAX_REQUEST_BYTES} bytes"]
            )
        return self.get_response(request)
