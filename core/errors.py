"""One error shape for every 4xx/5xx, the one the replaced NestJS service answered:

{"statusCode": 400, "message": ["email must be a valid email"], "error": "Bad Request"}
"""

import logging
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.db import database_unavailable

logger = logging.getLogger(__name__)

# DRF's stock messages for these codes, reworded as predicates that read after the field's path.
PREDICATES = {
    "required": "is required",
    "null": "must not be null",
    "blank": "must not be empty",
    "not_a_dict": "must be an object",
    "not_a_list": "must be an array",
    "empty": "must not be empty",
}


# Seconds a client is told to wait before retrying when the database is unreachable or busy.
DATABASE_RETRY_AFTER = 5

# The old service's (NestJS) phrases where Python's differ, or changed in Python 3.13.
PHRASES = {413: "Payload Too Large", 422: "Unprocessable Entity"}


def error_body(status_code: int, messages: list[str]) -> dict[str, Any]:
    try:
        phrase = PHRASES.get(status_code) or HTTPStatus(status_code).phrase
    except ValueError:
        phrase = "Error"
    return {"statusCode": status_code, "message": messages, "error": phrase}


def error_response(status_code: int, messages: list[str], **kwargs: Any) -> JsonResponse:
    return JsonResponse(error_body(status_code, messages), status=status_code, **kwargs)


def flatten_errors(detail: Any, path: str = "") -> list[str]:
    """Turns DRF's nested error detail into flat, path-prefixed messages."""
    if isinstance(detail, dict):
        messages: list[str] = []
        for key, value in detail.items():
            child = path if key in ("non_field_errors", "__all__") else _join(path, str(key))
            messages.extend(flatten_errors(value, child))
        return messages
    if isinstance(detail, list):
        messages = []
        for index, value in enumerate(detail):
            # Lists of dicts/lists are per-item errors (bulk); lists of strings are messages.
            child = _join(path, str(index)) if isinstance(value, dict | list) else path
            if isinstance(value, dict | list) and not value:
                continue
            messages.extend(flatten_errors(value, child))
        return messages
    return [_message(path, detail)]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _message(path: str, detail: Any) -> str:
    text = str(detail)
    code = getattr(detail, "code", None)
    if not path:
        # A predicate about the whole body ("must be a JSON object") needs its subject.
        return f"request body {text}" if text.startswith("must ") else text
    # An unknown property of an item reads as NestJS wrote it: `events.3.property x should...`.
    if text.startswith("property "):
        return f"{path}.{text}"
    # A message already written as a predicate wins over the stock rewording of its code.
    if text.startswith(("must ", "is ", "should ")):
        return f"{path} {text}"
    if code in PREDICATES:
        return f"{path} {PREDICATES[code]}"
    return f"{path}: {text}"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif database_unavailable(exc):
        # Down, restarting, a dropped connection, a lock wait or deadlock: transient, and the
        # request's transaction was rolled back, so the client should retry, not give up.
        logger.warning("Database unavailable in %s: %s", context.get("view"), exc)
        exc = DatabaseUnavailable()
    response = drf_exception_handler(exc, context)
    if response is None:
        # Unexpected: logged with its traceback, answered in the same shape.
        logger.exception("Unhandled error in %s", context.get("view"))
        return Response(
            error_body(500, ["Internal server error"]), status=status.HTTP_500_INTERNAL_SERVER_ERROR
        )
    if isinstance(exc, exceptions.ValidationError):
        messages = flatten_errors(exc.detail) or ["Invalid input"]
    elif isinstance(exc, exceptions.NotAuthenticated):
        messages = ["Missing API key: send it in the X-API-Key header."]
    elif isinstance(exc, exceptions.APIException):
        messages = flatten_errors(exc.detail)
    else:
        messages = [str(exc)]
    response.data = error_body(response.status_code, messages)
    if isinstance(exc, DatabaseUnavailable):
        response["Retry-After"] = str(DATABASE_RETRY_AFTER)
    return response


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body is too large."
    default_code = "payload_too_large"


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Service unavailable."
    default_code = "service_unavailable"


class DatabaseUnavailable(ServiceUnavailable):
    default_detail = (
        "The database is unavailable; the request was not applied. Retry shortly "
        "(with the same uniqueId, a retried event is never stored twice)."
    )
    default_code = "database_unavailable"


class BadGateway(exceptions.APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "The upstream service failed."
    default_code = "bad_gateway"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict."
    default_code = "conflict"


# Django-level handlers, for what never reaches a DRF view (unknown paths, crashes).
def handler400(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response(400, ["Bad request"])


def handler403(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response(403, ["Forbidden"])


def handler404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response(404, [f"Cannot {request.method} {request.path}"])


def csrf_failure(request: HttpRequest, reason: str = "") -> JsonResponse:
    return error_response(403, [f"CSRF check failed: {reason}"])


def handler500(request: HttpRequest) -> JsonResponse:
    return error_response(500, ["Internal server error"])
