"""Request bodies are strict: a property the endpoint does not declare is refused, as the replaced
NestJS service refused it (class-validator's `forbidNonWhitelisted`): `property unique_id should
not exist`, a 400 in the usual error shape. A typo such as `unique_id` for `uniqueId` would
otherwise be ignored without a word, and with it the client's idempotency. Free-form objects
(eventAttributes, profileAttributes) are values, not bodies: their keys are the client's.

One mechanism for every body: `StrictInputSerializer` for DRF serializers, and
`unknown_property_errors` for the hand-written event validator, which both produce.
"""

from collections.abc import Collection
from typing import Any

from rest_framework import serializers
from rest_framework.settings import api_settings

MAX_ECHOED_NAME = 40  # an unknown name quoted in the message is cut to this


def unknown_property_message(name: str) -> str:
    shown = name if len(name) <= MAX_ECHOED_NAME else name[:MAX_ECHOED_NAME] + "…"
    return f"property {shown} should not exist"


def unknown_property_errors(data: dict[str, Any], known: Collection[str]) -> list[str]:
    """One message per key of `data` not in `known`, in the order sent."""
    return [unknown_property_message(str(key)) for key in data if key not in known]


class StrictInputSerializer(serializers.Serializer):
    """A serializer of a request body that refuses undeclared properties, reported with any
    other problem of the body in one 400."""

    def to_internal_value(self, data: Any) -> Any:
        unknown = (
            unknown_property_errors(data, {field.field_name for field in self._writable_fields})
            if isinstance(data, dict)
            else []
        )
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as error:
            if unknown and isinstance(error.detail, dict):
                error.detail.setdefault(api_settings.NON_FIELD_ERRORS_KEY, []).extend(unknown)
            raise
        if unknown:
            raise serializers.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: unknown})
        return value
