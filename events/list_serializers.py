"""The query and the answer of GET /events: what became of the events a client posted."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.validators import RegexValidator
from rest_framework import serializers

from core.strict_input import QueryInputSerializer, StrictInputSerializer
from events.models import SyncStatus
from events.selectors import EventPosition
from events.serializers import EventOutputSerializer

MAX_EVENTS_PAGE = 1000
DEFAULT_EVENTS_PAGE = 100


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The cursor: the last event's createdAt in microseconds since 1970 (16 digits reach 2286) and
# its id. Every text of this pattern (the schema's) is a position to go on from.
EVENT_CURSOR_PATTERN = r"^[0-9]{1,16}_[0-9a-f]{32}$"
CURSOR_PROBLEM = "must be the nextCursor of a previous answer"


def event_cursor_encode(position: EventPosition) -> str:
    """Opaque to clients: the last event's createdAt (to the microsecond) and id."""
    micros = (position.created_at - EPOCH) // timedelta(microseconds=1)
    return f"{micros}_{position.id.hex}"


def event_cursor_decode(cursor: str) -> EventPosition:
    micros, _, event_id = cursor.partition("_")
    return EventPosition(
        created_at=EPOCH + timedelta(microseconds=int(micros)), id=uuid.UUID(hex=event_id)
    )


class EventListQuerySerializer(QueryInputSerializer, StrictInputSerializer):
    """The query string of GET /events; an unknown parameter is a 400, as in a body."""

    syncStatus = serializers.ChoiceField(
        source="sync_status",
        required=False,
        choices=SyncStatus.values,
        help_text="pending, sent, failed or skipped",
        error_messages={"invalid_choice": "must be one of " + ", ".join(SyncStatus.values)},
    )
    metric = serializers.CharField(
        required=False, max_length=255, help_text="the eventName, exactly"
    )
    email = serializers.EmailField(
        required=False,
        max_length=254,
        error_messages={"invalid": "must be a valid email"},
        help_text="case-insensitive",
    )
    since = serializers.DateTimeField(
        required=False, help_text="createdAt at or after this, ISO-8601"
    )
    until = serializers.DateTimeField(
        required=False, help_text="createdAt before this, ISO-8601; after since (else 400)"
    )
    limit = serializers.IntegerField(
        required=False,
        default=DEFAULT_EVENTS_PAGE,
        min_value=1,
        max_value=MAX_EVENTS_PAGE,
        help_text=f"events per page, 1 to {MAX_EVENTS_PAGE} (default {DEFAULT_EVENTS_PAGE})",
        error_messages={
            "invalid": "must be an integer",
            "min_value": "must be at least 1",
            "max_value": f"must be at most {MAX_EVENTS_PAGE}",
        },
    )
    cursor = serializers.CharField(
        required=False,
        validators=[RegexValidator(EVENT_CURSOR_PATTERN, CURSOR_PROBLEM)],
        help_text="`nextCursor` of the previous page (with the same filters)",
        error_messages={"blank": "must not be empty"},
    )

    def validate_cursor(self, value: str) -> EventPosition:
        return event_cursor_decode(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        since, until = attrs.get("since"), attrs.get("until")
        if since and until and since >= until:
            raise serializers.ValidationError("since must be before until")
        if "cursor" in attrs:
            attrs["after"] = attrs.pop("cursor")
        return attrs


class EventPageSerializer(serializers.Serializer):
    events = EventOutputSerializer(many=True)
    nextCursor = serializers.CharField(
        allow_null=True, help_text="pass as `cursor` for the next page; null on the last"
    )

    def to_representation(self, instance: dict[str, Any]) -> dict[str, Any]:
        single = EventOutputSerializer()
        position = instance["next"]
        return {
            "events": [single.to_representation(event) for event in instance["events"]],
            "nextCursor": None if position is None else event_cursor_encode(position),
        }
