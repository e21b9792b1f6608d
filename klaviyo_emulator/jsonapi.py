"""JSON:API documents and Klaviyo's error format, as the emulator answers them."""

import base64
import json
import uuid
from typing import Any
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

JSON_API = "application/vnd.api+json"

ERROR_TITLES = {
    400: ("invalid", "Invalid input."),
    401: ("not_authenticated", "Authentication credentials were not provided."),
    403: ("permission_denied", "You do not have permission to perform this action."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "Method not allowed."),
    409: ("conflict", "Conflict."),
    410: ("gone", "This endpoint is no longer available."),
    408: ("request_timeout", "Request timeout."),
    413: ("request_too_large", "Request entity too large."),
    415: ("unsupported_media_type", "Unsupported media type."),
    429: ("throttled", "Request was throttled."),
    500: ("error", "A server error occurred."),
    502: ("bad_gateway", "Bad gateway."),
    503: ("service_unavailable", "Service unavailable."),
    504: ("gateway_timeout", "Gateway timeout."),
}


def error_item(
    status: int, detail: str, *, pointer: str | None = None, parameter: str | None = None
) -> dict[str, Any]:
    code, title = ERROR_TITLES.get(status, ("error", "Error."))
    source: dict[str, str] = {}
    if pointer is not None:
        source["pointer"] = pointer
    if parameter is not None:
        source["parameter"] = parameter
    return {
        "id": str(uuid.uuid4()),
        "status": status,
        "code": code,
        "title": title,
        "detail": detail,
        "source": source,
        "meta": {},
    }


class ApiError(Exception):
    """Raised by a handler to answer Klaviyo's error document."""

    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        super().__init__(status, errors)
        self.status = status
        self.errors = errors

    @classmethod
    def one(
        cls, status: int, detail: str, *, pointer: str | None = None, parameter: str | None = None
    ) -> "ApiError":
        return cls(status, [error_item(status, detail, pointer=pointer, parameter=parameter)])


def document(payload: Any, status: int = 200) -> Response:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return Response(body, status=status, content_type=JSON_API)


def empty(status: int = 202) -> Response:
    return Response(b"", status=status)


def errors_document(error: ApiError) -> Response:
    return document({"errors": error.errors}, status=error.status)


def resource_url(request: Request, path: str) -> str:
    return f"{request.host_url}api/{path}/"


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, offset = raw.split(":", 1)
        if prefix != "o" or int(offset) < 0:
            raise ValueError(raw)
        return int(offset)
    except ValueError as error:
        raise ApiError.one(400, "Invalid page cursor.", parameter="page[cursor]") from error


def page_size(request: Request, *, default: int, maximum: int) -> int:
    raw = request.args.get("page[size]")
    if raw is None:
        return default
    try:
        size = int(raw)
    except ValueError as error:
        raise ApiError.one(400, "page[size] must be an integer.", parameter="page[size]") from error
    if not 1 <= size <= maximum:
        raise ApiError.one(
            400, f"page[size] must be between 1 and {maximum}.", parameter="page[size]"
        )
    return size


def collection_links(request: Request, *, offset: int, size: int, total: int) -> dict[str, str]:
    """links.self / next / prev as full URLs carrying page[cursor], like Klaviyo's."""
    base = f"{request.base_url}"
    others = [(k, v) for k, v in request.args.items(multi=True) if k != "page[cursor]"]

    def url_with(cursor: str | None) -> str:
        params = others + ([("page[cursor]", cursor)] if cursor else [])
        return f"{base}?{urlencode(params)}" if params else base

    links = {"self": url_with(encode_cursor(offset) if offset else None)}
    if offset + size < total:
        links["next"] = url_with(encode_cursor(offset + size))
    if offset > 0:
        previous = max(0, offset - size)
        links["prev"] = url_with(encode_cursor(previous) if previous else None)
    return links
