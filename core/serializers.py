from datetime import UTC, datetime

from rest_framework import serializers


def iso_utc(value: datetime | None) -> str | None:
    """UTC with milliseconds and a `Z`, as the replaced service rendered times."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class IsoDateTimeField(serializers.DateTimeField):
    """Renders UTC with milliseconds and a `Z`, as the replaced service did."""

    def to_representation(self, value: datetime | None) -> str | None:
        return iso_utc(value)


class ErrorSerializer(serializers.Serializer):
    """The shape of every error answer."""

    statusCode = serializers.IntegerField()
    message = serializers.ListField(child=serializers.CharField())
    error = serializers.CharField()
