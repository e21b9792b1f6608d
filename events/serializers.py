"""Input and output serializers of the events API. Names are camelCase on the wire (the old
service's contract); `source=` maps them to the snake_case the services take. The input fields
describe the contract for the OpenAPI schema; `event_input_validate` (events/validators.py)
enforces it.
"""

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.serializers import IsoDateTimeField, iso_utc
from core.strict_input import BulkListField, StrictInputSerializer
from events.currencies import CURRENCY_CODES
from events.input_schemas import IDENTITY_ANY_OF, PROFILE_ATTRIBUTES_SCHEMA
from events.models import Event
from events.validators import CLEAN_NAME_VALIDATOR, event_input_validate
from klaviyo_client.limits import (
    MAX_ARRAY_ITEMS,
    MAX_EVENT_PROPERTIES,
    MAX_METRIC_NAME,
    MAX_NESTING,
    MAX_STRING_BYTES,
)

if TYPE_CHECKING:
    from events.services import IngestResult


class AttributesField(serializers.DictField):
    """A JSON object of any values."""


@extend_schema_field(
    {"type": "object", "additionalProperties": {}, "maxProperties": MAX_EVENT_PROPERTIES}
)
class EventAttributesField(AttributesField):
    """Any keys, at most Klaviyo's number of them."""


@extend_schema_field(PROFILE_ATTRIBUTES_SCHEMA)
class ProfileAttributesField(AttributesField):
    """Any keys; the standard attributes and identifiers checked (events/input_schemas.py)."""


class EventInputSerializer(serializers.Serializer):
    """One event. The fields describe the contract; `event_input_validate` enforces it."""

    # For the schema (core/schema_hooks.py): what the validator refuses beyond the fields.
    refuses_unknown_properties = True
    openapi_extra = {"anyOf": IDENTITY_ANY_OF}

    eventName = serializers.CharField(
        source="event_name",
        max_length=MAX_METRIC_NAME,
        validators=[CLEAN_NAME_VALIDATOR],
        help_text=f"Klaviyo's metric name: at most {MAX_METRIC_NAME} characters, no control "
        "characters or bidirectional overrides.",
    )
    email = serializers.EmailField(
        required=False,
        allow_null=True,
        max_length=254,
        help_text="Stored lower-cased and trimmed.",
    )
    eventAttributes = EventAttributesField(
        source="event_attributes",
        required=False,
        help_text=f"Klaviyo's limits: at most {MAX_EVENT_PROPERTIES} properties, strings of at "
        f"most {MAX_STRING_BYTES // 1024} KB, arrays of at most {MAX_ARRAY_ITEMS:,} items, "
        f"{MAX_NESTING} levels deep; with profileAttributes at most 5 MB of JSON.",
    )
    profileAttributes = ProfileAttributesField(
        source="profile_attributes",
        required=False,
        help_text="Merged over the profile's attributes (null removes a key, here and in "
        "Klaviyo). phoneNumber (E.164), externalId or anonymousId (a visitor not yet known) "
        "identify a profile that has no email. Klaviyo's standard attributes (firstName, "
        "locale, city, ...) are strings or numbers; strings at most 100 KB. email is a valid "
        "email, stored lower-cased and trimmed as the top-level one.",
    )
    time = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="ISO-8601, after 2000 and at most a year ahead; default: now.",
    )
    value = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=-sys.float_info.max,
        max_value=sys.float_info.max,
        help_text="A JSON number (a string is refused), finite.",
    )
    uniqueId = serializers.CharField(
        source="unique_id",
        required=False,
        allow_null=True,
        max_length=255,
        validators=[CLEAN_NAME_VALIDATOR],
        help_text="Idempotency key, as Klaviyo's unique_id: an event with the profile, eventName "
        "and uniqueId of a stored one is not stored again (200 with the first event).",
    )
    valueCurrency = serializers.ChoiceField(
        source="value_currency",
        choices=sorted(CURRENCY_CODES),
        required=False,
        allow_null=True,
        help_text="ISO 4217 code of value (USD, EUR, ...), Klaviyo's value_currency; default: "
        "eventAttributes.currency when value is given and that is a valid code.",
    )

    def run_validation(self, data: Any = serializers.empty) -> dict[str, Any]:
        return event_input_validate(None if data is serializers.empty else data)


class EventListField(BulkListField):
    """The events of a bulk request, at most BULK_MAX_EVENTS."""

    default_error_messages = {
        "empty": "must hold at least one event",
        "max_length": "must hold at most {max_length} events",
    }
    limit_setting = "BULK_MAX_EVENTS"
    item_validate = staticmethod(event_input_validate)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=EventInputSerializer(), **kwargs)


class BulkEventsInputSerializer(StrictInputSerializer):
    default_error_messages = {"invalid": "must be a JSON object"}

    events = EventListField()


class EventOutputSerializer(serializers.ModelSerializer):
    eventName = serializers.CharField(source="event_name")
    eventAttributes = serializers.JSONField(source="event_attributes")
    profileAttributes = serializers.JSONField(source="profile_attributes")
    time = IsoDateTimeField()
    uniqueId = serializers.CharField(source="unique_id", allow_null=True)
    valueCurrency = serializers.CharField(source="value_currency", allow_null=True)
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
            "valueCurrency",
            "uniqueId",
            "sentToKlaviyo",
            "syncStatus",
            "attempts",
            "lastError",
            "klaviyoResponse",
            "syncedAt",
            "createdAt",
        ]

    def to_representation(self, instance: Event) -> dict[str, Any]:
        # What the fields above render, without building them: a ModelSerializer copies its
        # 16 fields for every instance, a quarter of a single-event request's CPU.
        return {
            "id": str(instance.id),
            "eventName": instance.event_name,
            "eventAttributes": instance.event_attributes,
            "profileAttributes": instance.profile_attributes,
            "email": instance.email,
            "time": iso_utc(instance.time),
            "value": None if instance.value is None else float(instance.value),
            "valueCurrency": instance.value_currency,
            "uniqueId": instance.unique_id,
            "sentToKlaviyo": instance.sent_to_klaviyo,
            "syncStatus": instance.sync_status,
            "attempts": instance.attempts,
            "lastError": instance.last_error,
            "klaviyoResponse": instance.klaviyo_response,
            "syncedAt": iso_utc(instance.synced_at),
            "createdAt": iso_utc(instance.created_at),
        }


class BulkEventItemSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    uniqueId = serializers.CharField(allow_null=True)
    syncStatus = serializers.CharField()
    duplicate = serializers.BooleanField(help_text="true when uniqueId matched an earlier event")


# The answer to a bulk ingest, built from its IngestResults in request order. (A comment, not a
# docstring: a docstring would become the component's description in the schema.)
class BulkEventsOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="events in the request")
    created = serializers.IntegerField(help_text="of which new (not a repeated uniqueId)")
    events = BulkEventItemSerializer(many=True)

    def to_representation(self, instance: Sequence["IngestResult"]) -> dict[str, Any]:
        # Up to 1,000 items: plain dicts, not four field objects per item. The declared fields
        # above are the schema of this answer.
        return {
            "count": len(instance),
            "created": sum(result.created for result in instance),
            "events": [
                {
                    "id": str(result.event.id),
                    "uniqueId": result.event.unique_id,
                    "syncStatus": result.event.sync_status,
                    "duplicate": not result.created,
                }
                for result in instance
            ],
        }
