"""Input and output serializers of the events API. Names are camelCase on the wire (the old
service's contract); `source=` maps them to the snake_case the services take."""

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from core.serializers import IsoDateTimeField
from events.models import Event

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# Klaviyo accepts event times after 2000 and up to a year ahead (docs; the spec says 1990).
EARLIEST_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_EVENT_AHEAD = timedelta(days=365)
# Klaviyo takes at most 400 event properties (spec) or 300 (docs): the stricter one.
MAX_EVENT_PROPERTIES = 300
# Deeper nesting than this is almost certainly a client bug, and costly to store and render.
MAX_NESTING_DEPTH = 10


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_NESTING_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


class AttributesField(serializers.DictField):
    """A JSON object of any values, bounded in depth."""

    default_error_messages = {
        "not_a_dict": "must be an object",
        "too_deep": f"must not be nested deeper than {MAX_NESTING_DEPTH} levels",
    }

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.fail("not_a_dict", input_type=type(data).__name__)
        if _depth(data) > MAX_NESTING_DEPTH:
            self.fail("too_deep")
        return data


class EventInputSerializer(serializers.Serializer):
    eventName = serializers.CharField(
        source="event_name",
        max_length=255,
        trim_whitespace=True,
        error_messages={"blank": "must not be empty", "required": "is required"},
    )
    email = serializers.EmailField(
        required=False,
        allow_null=True,
        max_length=254,
        error_messages={"invalid": "must be a valid email"},
    )
    eventAttributes = AttributesField(source="event_attributes", required=False, default=dict)
    profileAttributes = AttributesField(source="profile_attributes", required=False, default=dict)
    time = serializers.DateTimeField(required=False, allow_null=True)
    value = serializers.FloatField(required=False, allow_null=True)
    uniqueId = serializers.CharField(
        source="unique_id",
        required=False,
        allow_null=True,
        max_length=255,
        error_messages={"blank": "must not be empty"},
    )

    def validate_email(self, value: str | None) -> str | None:
        return value.strip().lower() if value else None

    def validate_time(self, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value < EARLIEST_EVENT_TIME:
            raise serializers.ValidationError("must be after 2000-01-01T00:00:00Z")
        if value > timezone.now() + LATEST_EVENT_AHEAD:
            raise serializers.ValidationError("must be at most one year in the future")
        return value

    def validate_value(self, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise serializers.ValidationError("must be a finite number")
        return value

    def validate_eventAttributes(self, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > MAX_EVENT_PROPERTIES:
            raise serializers.ValidationError(
                f"must have at most {MAX_EVENT_PROPERTIES} properties"
            )
        return value

    def validate_profileAttributes(self, value: dict[str, Any]) -> dict[str, Any]:
        phone = value.get("phoneNumber")
        if phone is not None and (not isinstance(phone, str) or not E164.match(phone)):
            raise serializers.ValidationError(
                {"phoneNumber": "must be in E.164 format, like +15005550006"}
            )
        external_id = value.get("externalId")
        if external_id is not None and (
            not isinstance(external_id, str) or not external_id.strip() or len(external_id) > 255
        ):
            raise serializers.ValidationError(
                {"externalId": "must be a non-empty string of at most 255 characters"}
            )
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        profile = attrs.get("profile_attributes") or {}
        if not (attrs.get("email") or profile.get("phoneNumber") or profile.get("externalId")):
            raise serializers.ValidationError(
                "an event needs email, profileAttributes.phoneNumber "
                "or profileAttributes.externalId"
            )
        if not _finite(attrs.get("event_attributes")) or not _finite(profile):
            raise serializers.ValidationError("attributes must not hold NaN or Infinity")
        return attrs


class BulkEventsInputSerializer(serializers.Serializer):
    events = serializers.ListField(
        child=EventInputSerializer(),
        allow_empty=False,
        max_length=settings.BULK_MAX_EVENTS,
        error_messages={
            "empty": "must hold at least one event",
            "max_length": f"must hold at most {settings.BULK_MAX_EVENTS} events",
        },
    )


class EventOutputSerializer(serializers.ModelSerializer):
    eventName = serializers.CharField(source="event_name")
    eventAttributes = serializers.JSONField(source="event_attributes")
    profileAttributes = serializers.JSONField(source="profile_attributes")
    time = IsoDateTimeField()
    uniqueId = serializers.CharField(source="unique_id", allow_null=True)
    sentToKlaviyo = serializers.BooleanField(source="sent_to_klaviyo")
    syncStatus = serializers.CharField(source="sync_status")
    attempts = serializers.IntegerField()
    lastError = serializers.CharField(source="last_error")
    klaviyoResponse = serializers.CharField(source="klaviyo_response", allow_null=True)
    syncedAt = IsoDateTimeField(source="synced_at", allow_null=True)
    createdAt = IsoDateTimeField(source="created_at")

    class Meta:
        model = Event
        fields = [
            "id",
            "eventName",
            "eventAttributes",
            "profileAttributes",
            "email",
            "time",
            "value",
            "uniqueId",
            "sentToKlaviyo",
            "syncStatus",
            "attempts",
            "lastError",
            "klaviyoResponse",
            "syncedAt",
            "createdAt",
        ]


class BulkEventItemSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    uniqueId = serializers.CharField(allow_null=True)
    syncStatus = serializers.CharField()
    duplicate = serializers.BooleanField(help_text="true when uniqueId matched an earlier event")


class BulkEventsOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="events in the request")
    created = serializers.IntegerField(help_text="of which new (not a repeated uniqueId)")
    events = BulkEventItemSerializer(many=True)
