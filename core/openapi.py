"""What every app's OpenAPI declarations share: the error answers and their examples, the schema
class of every view, that of a paged list and that of a DELETE with a body."""

from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers

from core.errors import error_body
from core.serializers import ErrorSerializer

# For @extend_schema(responses=...): the error answers every protected endpoint can give.
AUTH_ERRORS = {401: ErrorSerializer, 429: ErrorSerializer}


def error_example(name: str, status_code: int, message: str) -> OpenApiExample:
    """An example of an error answer, in the one error shape (core.errors.error_body)."""
    return OpenApiExample(
        name,
        value=error_body(status_code, [message]),
        response_only=True,
        status_codes=[str(status_code)],
    )


# DRF's CharField refuses a NUL character ("Null characters are not allowed") in any text.
NO_NUL_PATTERN = "^[^\x00]*$"


class InputSchema(AutoSchema):
    """The schema class of every view (REST_FRAMEWORK's DEFAULT_SCHEMA_CLASS): an input text
    with no pattern, format or enum of its own says what DRF refuses in every text, NUL."""

    def _map_serializer_field(self, field: Any, direction: str, *args: Any, **kwargs: Any) -> Any:
        schema = super()._map_serializer_field(field, direction, *args, **kwargs)
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and schema.get("type") == "string"
            and not {"pattern", "format", "enum"} & schema.keys()
            # A field's own pattern (added after this, from its validators) says more.
            and not any(isinstance(check, RegexValidator) for check in field.validators)
        ):
            schema["pattern"] = NO_NUL_PATTERN
        return schema


class PagedListSchema(InputSchema):
    """For a viewset whose `list` answers one object holding the page (`{"events": [...],
    "nextCursor"}`), not a bare array: drf-spectacular would wrap its serializer in an array."""

    def _is_list_view(self, serializer: Any = None) -> bool:
        return False


class DeleteWithBodySchema(InputSchema):
    """For a viewset whose DELETE takes a JSON body (`DELETE /lists/{listId}/profiles` with the
    emails to remove, as Klaviyo's own DELETE of list relationships): drf-spectacular documents
    a body for PUT, PATCH and POST only."""

    def _get_request_body(self, direction: str = "request") -> Any:
        if self.method != "DELETE":
            return super()._get_request_body(direction)
        self.method = "POST"
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = "DELETE"
