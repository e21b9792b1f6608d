"""Input and output serializers of the events API. Names are camelCase on the wire (the old
service's contract); `source=` maps them to the snake_case the services take.

Input is checked by `event_input_validate`, plain Python in one pass: a bulk request validates
1,000 events, and DRF's field-by-field machinery was a third of such a request's time. The
declared serializer fields describe the same contract for the OpenAPI schema.

What Klaviyo would reject for certain is refused here with a 400, not stored to fail at send
time: a metric name of 128 characters or more, a string over 100 KB, an array over 4,000 items,
a phone number not in E.164, a standard profile attribute that is not text, attributes over
5 MB, a time out of Klaviyo's range. klaviyo_client.mapping checks the same limits (they are its
constants) on what is sent, the merged profile included, as the last line of defence.
"""

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers
from rest_framework.settings import api_settings

from core.serializers import IsoDateTimeField, iso_utc
from core.strict_input import StrictInputSerializer, unknown_property_errors
from events.currencies import is_currency_code
from events.models import Event
from klaviyo_client.mapping import (
    E164,
    MAX_ARRAY_ITEMS,
    MAX_EVENT_BYTES,
    MAX_METRIC_NAME,
    MAX_STRING_BYTES,
)
from klaviyo_client.names import LOCATION_ATTRIBUTES, NUMERIC_LOCATION, STANDARD_ATTRIBUTES

if TYPE_CHECKING:
    from events.services import IngestResult

# Klaviyo accepts event times after 2000 and up to a year ahead (docs; the spec says 1990).
EARLIEST_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_EVENT_AHEAD = timedelta(days=365)
# Klaviyo takes at most 400 event properties (spec) or 300 (docs): the stricter one.
MAX_EVENT_PROPERTIES = 300
# Deeper nesting than this is almost certainly a client bug, and costly to store and render.
MAX_NESTING_DEPTH = 10
MAX_NUMBER_TEXT = 100  # longest numeric string `value` takes
MAX_ECHOED_KEY = 40  # a client's key named in an error message is cut to this
# An upper bound of a float's JSON text ("-2.2250738585072014e-308"), and of a character's:
# 4 bytes of UTF-8, or 6 as a \u escape.
FLOAT_JSON_BOUND = 24
CHAR_JSON_BOUND = 6

MISSING = object()
EMAIL_VALIDATOR = EmailValidator()


class FieldError(Exception):
    """One field's problem: a predicate (`must be ...`) or, for nested checks, a dict of them."""

    def __init__(self, detail: str | dict[str, list[str]]) -> None:
        super().__init__(detail)
        self.detail = detail


@lru_cache(maxsize=8192)
def _is_email(value: str) -> bool:
    # Batches repeat the same emails; the validator's regexes are the costly part.
    try:
        EMAIL_VALIDATOR(value)
    except DjangoValidationError:
        return False
    return True


def _text(value: Any, *, max_length: int, why: str = "") -> str:
    """A string as DRF's CharField takes it: numbers as their text, trimmed, not blank."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FieldError("must be a string")
    text = str(value).strip()
    if not text:
        raise FieldError("must not be empty")
    if len(text) > max_length:
        raise FieldError(f"must be at most {max_length} characters{why}")
    if "\x00" in text:
        raise FieldError("must not contain null characters")
    return text


def _event_name(value: Any) -> str:
    if value is MISSING:
        raise FieldError("is required")
    if value is None:
        raise FieldError("must not be null")
    return _text(value, max_length=MAX_METRIC_NAME, why=": Klaviyo's limit for a metric name")


def _email(value: Any) -> str | None:
    if value is MISSING or value is None:
        return None
    email = _text(value, max_length=254)
    if not _is_email(email):
        raise FieldError("must be a valid email")
    return email.lower()


class JsonProblem(Exception):
    """A problem at a place inside an attributes object; `path` is filled in on the way out."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.path: list[str] = []

    def detail(self) -> dict[str, Any] | str:
        """As FieldError's detail: nested by key, so the message reads `eventAttributes.a.0 ...`."""
        detail: dict[str, Any] | list[str] = [self.message]
        for key in reversed(self.path):
            detail = {key: detail}
        return detail if isinstance(detail, dict) else self.message


def _echoed(key: str) -> str:
    return key if len(key) <= MAX_ECHOED_KEY else key[:MAX_ECHOED_KEY] + "…"


def _json_bound(value: Any, depth: int) -> int:
    """Checks a JSON value against what a JSON column and Klaviyo take, and returns an upper
    bound of its size as compact UTF-8 JSON (so the exact size is measured only when it could
    matter). Raises JsonProblem for the first problem found, or FieldError for nesting."""
    if isinstance(value, str):
        # A character is at most 4 bytes of UTF-8: most strings need no encoding to tell.
        if len(value) * 4 > MAX_STRING_BYTES and len(value.encode()) > MAX_STRING_BYTES:
            raise JsonProblem(
                f"must be at most 100 KB ({MAX_STRING_BYTES} bytes of UTF-8): "
                "Klaviyo's limit for a string"
            )
        return CHAR_JSON_BOUND * len(value) + 2
    if isinstance(value, dict):
        if depth > MAX_NESTING_DEPTH:
            raise FieldError(f"must not be nested deeper than {MAX_NESTING_DEPTH} levels")
        # Per member: the key (quoted), its colon and comma; JSON object keys are strings.
        size = 2 + 4 * len(value)
        for key, child in value.items():
            try:
                size += _json_bound(child, depth + 1) + CHAR_JSON_BOUND * len(key)
            except JsonProblem as problem:
                problem.path.insert(0, _echoed(key))
                raise
        return size
    if isinstance(value, list):
        if depth > MAX_NESTING_DEPTH:
            raise FieldError(f"must not be nested deeper than {MAX_NESTING_DEPTH} levels")
        if len(value) > MAX_ARRAY_ITEMS:
            raise JsonProblem(f"must hold at most {MAX_ARRAY_ITEMS} items: Klaviyo's limit")
        size = 2 + len(value)  # brackets and commas
        for index, child in enumerate(value):
            try:
                size += _json_bound(child, depth + 1)
            except JsonProblem as problem:
                problem.path.insert(0, str(index))
                raise
        return size
    if isinstance(value, float):
        # 1e999 parses as infinity, which no JSON column or Klaviyo takes.
        if not math.isfinite(value):
            raise JsonProblem("must not be NaN or Infinity")
        return FLOAT_JSON_BOUND
    if isinstance(value, int):  # true and false too ("false" is 5 bytes)
        return max(6, value.bit_length() // 3 + 3)
    return 4  # null


def _attributes(value: Any) -> tuple[dict[str, Any], int]:
    """A JSON object and the upper bound of its JSON size."""
    if value is MISSING:
        return {}, 2
    if value is None:
        raise FieldError("must not be null")
    if not isinstance(value, dict):
        raise FieldError("must be an object")
    try:
        return value, _json_bound(value, 1)
    except JsonProblem as problem:
        raise FieldError(problem.detail()) from None


def _event_attributes(value: Any) -> tuple[dict[str, Any], int]:
    attributes, bound = _attributes(value)
    if len(attributes) > MAX_EVENT_PROPERTIES:
        raise FieldError(f"must have at most {MAX_EVENT_PROPERTIES} properties")
    return attributes, bound


def _profile_text_problems(attributes: dict[str, Any], prefix: str = "") -> dict[str, list[str]]:
    """Klaviyo's standard and location attributes are text (latitude, longitude: or numbers),
    not objects, lists or booleans; a null is fine (it erases the attribute)."""
    errors: dict[str, list[str]] = {}
    for key, value in attributes.items():
        if value is None or not (
            key in LOCATION_ATTRIBUTES or (not prefix and key in STANDARD_ATTRIBUTES)
        ):
            continue
        if isinstance(value, str) or (isinstance(value, int | float) and type(value) is not bool):
            continue
        kind = "a number" if key in NUMERIC_LOCATION else "text"
        errors[prefix + key] = [f"must be a string or a number: Klaviyo takes {key} as {kind}"]
    return errors


def _profile_attributes(value: Any) -> tuple[dict[str, Any], int]:
    attributes, bound = _attributes(value)
    errors: dict[str, list[str]] = {}
    # Klaviyo takes Klaviyo's own snake_case names as well as the camelCase ones.
    for key in ("phoneNumber", "phone_number"):
        phone = attributes.get(key)
        if phone is not None and (not isinstance(phone, str) or not E164.match(phone)):
            errors[key] = ["must be in E.164 format, like +15005550006"]
    for key in ("externalId", "anonymousId"):
        identifier = attributes.get(key)
        if identifier is not None and (
            not isinstance(identifier, str) or not identifier.strip() or len(identifier) > 255
        ):
            errors[key] = ["must be a non-empty string of at most 255 characters"]
    for key, problem in _profile_text_problems(attributes).items():
        errors.setdefault(key, problem)
    if isinstance(attributes.get("location"), dict):
        errors.update(_profile_text_problems(attributes["location"], prefix="location."))
    if errors:
        raise FieldError(errors)
    return attributes, bound


def _json_bytes(value: dict[str, Any]) -> bytes:
    """As klaviyo_client.mapping encodes it for Klaviyo: compact, UTF-8."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _time(value: Any) -> datetime | None:
    if value is MISSING or value is None:
        return None
    parsed = None
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value)
            if parsed is not None:
                # As DRF's DateTimeField: a naive time is in the current time zone (UTC).
                parsed = (
                    parsed.astimezone(timezone.get_current_timezone())
                    if timezone.is_aware(parsed)
                    else timezone.make_aware(parsed)
                )
        except (ValueError, OverflowError):
            parsed = None
    if parsed is None:
        raise FieldError("must be an ISO-8601 date-time, like 2025-09-15T10:00:00Z")
    if parsed < EARLIEST_EVENT_TIME:
        raise FieldError("must be after 2000-01-01T00:00:00Z")
    if parsed > timezone.now() + LATEST_EVENT_AHEAD:
        raise FieldError("must be at most one year in the future")
    return parsed


def _value(value: Any) -> float | None:
    if value is MISSING or value is None:
        return None
    # Numbers, and numeric strings as DRF's FloatField took them; true/false are not numbers.
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise FieldError("must be a number")
    if isinstance(value, str) and len(value) > MAX_NUMBER_TEXT:
        raise FieldError("must be a number")
    try:
        number = float(value)
    except ValueError:
        raise FieldError("must be a number") from None
    except OverflowError:  # an integer beyond float's range
        number = math.inf
    if not math.isfinite(number):
        raise FieldError("must be a finite number")
    return number


def _unique_id(value: Any) -> str | None:
    if value is MISSING or value is None:
        return None
    return _text(value, max_length=255)


def _value_currency(value: Any) -> str | None:
    if value is MISSING or value is None:
        return None
    if not is_currency_code(value):
        raise FieldError("must be an ISO 4217 currency code, like USD")
    return value


# (wire name, service name, check): a check returns the clean value or raises FieldError.
EVENT_FIELDS = (
    ("eventName", "event_name", _event_name),
    ("email", "email", _email),
    ("eventAttributes", "event_attributes", _event_attributes),
    ("profileAttributes", "profile_attributes", _profile_attributes),
    ("time", "time", _time),
    ("value", "value", _value),
    ("uniqueId", "unique_id", _unique_id),
    ("valueCurrency", "value_currency", _value_currency),
)
EVENT_PROPERTIES = frozenset(name for name, _, _ in EVENT_FIELDS)


def event_input_validate(data: Any) -> dict[str, Any]:
    """One event as a client sent it -> every service key (snake_case), None when not sent.

    Raises ValidationError with every problem, keyed by wire name; a property of the event
    that is not one of EVENT_FIELDS is a problem (`property unique_id should not exist`).
    """
    if not isinstance(data, dict):
        raise serializers.ValidationError(
            {api_settings.NON_FIELD_ERRORS_KEY: ["must be a JSON object"]}
        )
    clean: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    for name, source, check in EVENT_FIELDS:
        try:
            clean[source] = check(data.get(name, MISSING))
        except FieldError as error:
            errors[name] = [error.detail] if isinstance(error.detail, str) else error.detail
    if unknown := unknown_property_errors(data, EVENT_PROPERTIES):
        errors[api_settings.NON_FIELD_ERRORS_KEY] = unknown
    if not errors:
        (events, events_bound), (profile, profile_bound) = (
            clean["event_attributes"],
            clean["profile_attributes"],
        )
        clean["event_attributes"], clean["profile_attributes"] = events, profile
        # When absent, a valid `currency` among the event's attributes says what `value` is in.
        if (
            clean["value_currency"] is None
            and clean["value"] is not None
            and is_currency_code(events.get("currency"))
        ):
            clean["value_currency"] = events["currency"]
        if not (
            clean["email"]
            or profile.get("phoneNumber")
            or profile.get("externalId")
            or profile.get("anonymousId")
        ):
            errors[api_settings.NON_FIELD_ERRORS_KEY] = [
                "an event needs email, profileAttributes.phoneNumber, "
                "profileAttributes.externalId or profileAttributes.anonymousId"
            ]
        # Klaviyo takes at most 5 MB per event, its profile included. Measured only when the
        # cheap bound says it could be over: a megabyte of JSON takes milliseconds to encode.
        elif events_bound + profile_bound > MAX_EVENT_BYTES and (
            len(_json_bytes(events)) + len(_json_bytes(profile)) > MAX_EVENT_BYTES
        ):
            errors[api_settings.NON_FIELD_ERRORS_KEY] = [
                "eventAttributes and profileAttributes must be at most 5 MB "
                f"({MAX_EVENT_BYTES} bytes of JSON) together: Klaviyo's limit for an event"
            ]
    if errors:
        raise serializers.ValidationError(errors)
    return clean


class AttributesField(serializers.DictField):
    """A JSON object of any values."""


class EventInputSerializer(serializers.Serializer):
    """One event. The fields describe the contract; `event_input_validate` enforces it."""

    eventName = serializers.CharField(
        source="event_name",
        max_length=MAX_METRIC_NAME,
        help_text="Klaviyo's metric name: at most 127 characters.",
    )
    email = serializers.EmailField(
        required=False,
        allow_null=True,
        max_length=254,
        help_text="Stored lower-cased and trimmed.",
    )
    eventAttributes = AttributesField(
        source="event_attributes",
        required=False,
        help_text="Klaviyo's limits: at most 300 properties, strings of at most 100 KB, arrays "
        "of at most 4,000 items, 10 levels deep; with profileAttributes at most 5 MB of JSON.",
    )
    profileAttributes = AttributesField(
        source="profile_attributes",
        required=False,
        help_text="Merged over the profile's attributes (null removes a key, here and in "
        "Klaviyo). phoneNumber (E.164), externalId or anonymousId (a visitor not yet known) "
        "identify a profile that has no email. Klaviyo's standard attributes (firstName, "
        "locale, city, ...) are strings or numbers; strings at most 100 KB.",
    )
    time = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="ISO-8601, after 2000 and at most a year ahead; default: now.",
    )
    value = serializers.FloatField(required=False, allow_null=True)
    uniqueId = serializers.CharField(
        source="unique_id",
        required=False,
        allow_null=True,
        max_length=255,
        help_text="Idempotency key, as Klaviyo's unique_id: an event with the profile, eventName "
        "and uniqueId of a stored one is not stored again (200 with the first event).",
    )
    valueCurrency = serializers.CharField(
        source="value_currency",
        required=False,
        allow_null=True,
        min_length=3,
        max_length=3,
        help_text="ISO 4217 code of value (USD, EUR, ...), Klaviyo's value_currency; default: "
        "eventAttributes.currency when value is given and that is a valid code.",
    )

    def run_validation(self, data: Any = serializers.empty) -> dict[str, Any]:
        return event_input_validate(None if data is serializers.empty else data)


class EventListField(serializers.ListField):
    """The events of a bulk request: the length checked before any item, errors by index.
    The limit is read when a request comes, so that BULK_MAX_EVENTS is honoured as set."""

    default_error_messages = {
        "empty": "must hold at least one event",
        "max_length": "must hold at most {max_length} events",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=EventInputSerializer(), allow_empty=False, **kwargs)
        self.max_length = settings.BULK_MAX_EVENTS  # the schema's maxItems

    def to_internal_value(self, data: Any) -> list[dict[str, Any]]:
        if not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        if not data:
            self.fail("empty")
        if len(data) > settings.BULK_MAX_EVENTS:
            self.fail("max_length", max_length=settings.BULK_MAX_EVENTS)
        items: list[dict[str, Any]] = []
        errors: dict[int, Any] = {}
        for index, item in enumerate(data):
            try:
                items.append(event_input_validate(item))
            except serializers.ValidationError as error:
                errors[index] = error.detail
        if errors:
            raise serializers.ValidationError(errors)
        return items


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
