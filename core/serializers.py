from datetime import UTC, datetime

from rest_framework import serializers


class IsoDateTimeField(serializers.DateTimeField):
    """Renders UTC with milliseconds and a `Z`, as the replaced service did."""

    def to_representation(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ErrorSerializer(serializers.Serializer):
    """The shape of every error answer."""

    statusCode = serializers.IntegerField()
    message = serializers.ListField(child=serializers.CharField())
    error = serializers.CharField()
