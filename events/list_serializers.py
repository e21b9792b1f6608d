"""The query and the answer of GET /events: what became of the events a client posted."""

import base64
import binascii
import uuid
from datetime import datetime
from typing import Any

from rest_framework import serializers

from core.strict_input import StrictInputSerializer
from events.models import SyncStatus
from events.selectors import EventPosition
from events.serializers import EventOutputSerializer

MAX_EVENTS_PAGE = 1000
DEFAULT_EVENTS_PAGE = 100


def event_cursor_encode(position: EventPosition) -> str:
    """Opaque to clients: the last event's createdAt (to the microsecond) and id, base64url."""
    raw = f"{position.created_at.isoformat()}|{position.id.hex}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def event_cursor_decode(cursor: str) -> EventPosition:
    padded = cursor + "=" * (-len(cursor) % 4)
    raw = base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True).decode()
    created_at, _, event_id = raw.partition("|")
    moment = datetime.fromisoformat(created_at)
    if moment.tzinfo is None:
        raise ValueError("cursor time without offset")
    return EventPosition(created_at=moment, id=uuid.UUID(hex=event_id))


class EventListQuerySerializer(StrictInputSerializer):
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
    until = serializers.DateTimeField(required=False, help_text="createdAt before this, ISO-8601")
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
        help_text="`nextCursor` of the previous page (with the same filters)",
        error_messages={"blank": "must not be empty"},
    )

    def validate_cursor(self, value: str) -> EventPosition:
        try:
            return event_cursor_decode(value)
        except (binascii.Error, UnicodeError, ValueError) as error:
            raise serializers.ValidationError(
                "must be the nextCursor of a previous answer"
            ) from error

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
