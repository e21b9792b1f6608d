"""The check of an event as a client sent it: `event_input_validate`, plain Python in one pass
(a bulk request validates 1,000 events, and DRF's field-by-field machinery was a third of such a
request's time). The serializers (events/serializers.py) declare the same contract for the
OpenAPI schema and call it.

What Klaviyo would reject for certain is refused here with a 400, not stored to fail at send
time: a metric name of 128 characters or more, a string over 100 KB, an array over 4,000 items,
an invalid email (profileAttributes.email too), a phone number not in E.164, a standard profile
attribute that is not text, attributes over 5 MB, a time out of Klaviyo's range
(klaviyo_client/limits.py). klaviyo_client.mapping checks the same limits on what is sent, the
merged profile included, as the last line of defence.
"""

import json
import math
import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator, RegexValidator
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers
from rest_framework.settings import api_settings

from core.strict_input import unknown_property_errors
from events.currencies import is_currency_code
from klaviyo_client.limits import (
    EARLIEST_EVENT_TIME,
    LATEST_EVENT_AHEAD,
    MAX_ARRAY_ITEMS,
    MAX_EVENT_BYTES,
    MAX_EVENT_PROPERTIES,
    MAX_METRIC_NAME,
    MAX_NESTING,
    MAX_STRING_BYTES,
)
from klaviyo_client.mapping import E164
from klaviyo_client.names import LOCATION_ATTRIBUTES, NUMERIC_LOCATION, STANDARD_ATTRIBUTES

MAX_ECHOED_KEY = 40  # a client's key named in an error message is cut to this
# An upper bound of a float's JSON text ("-2.2250738585072014e-308"), and of a character's:
# 4 bytes of UTF-8, or 6 as a \u escape.
FLOAT_JSON_BOUND = 24
CHAR_JSON_BOUND = 6

# Refused in names and identifiers (eventName, email, uniqueId, profile identifiers, standard
# profile attributes): C0 and C1 control characters (NUL, ESC of ANSI escapes, ...) and the
# bidirectional embeddings, overrides and isolates (U+202E, ...). Klaviyo keeps them, so each
# variant would be a metric or a profile of its own, and they disguise what a name says in
# admin, logs and terminals. Free-form attributes are stored and sent as they come.
UNCLEAN = "\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"  # a character class's ranges
UNCLEAN_NAME = re.compile(f"[{UNCLEAN}]")
UNCLEAN_NAME_PROBLEM = "must not contain control characters or bidirectional overrides"
# The same rules for the OpenAPI schema: the `pattern` of clean text (a standard profile
# attribute), and of a name (eventName, uniqueId, externalId, ...): clean text that is not
# blank, as `_text` says (it trims, then refuses an empty name).
CLEAN_TEXT_PATTERN = f"^[^{UNCLEAN}]*$"
NAME_PATTERN = f"^[^{UNCLEAN}]*[^\\s{UNCLEAN}][^{UNCLEAN}]*$"
CLEAN_NAME_VALIDATOR = RegexValidator(NAME_PATTERN)

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
    """A JSON string (a number is not converted: the schema says string), trimmed, not blank:
    NAME_PATTERN and the schema's maxLength."""
    if not isinstance(value, str):
        raise FieldError("must be a string")
    # The length as sent (the schema's maxLength), the blank check after trimming.
    if len(value) > max_length:
        raise FieldError(f"must be at most {max_length} characters{why}")
    text = value.strip()
    if not text:
        raise FieldError("must not be empty")
    if UNCLEAN_NAME.search(text):
        raise FieldError(UNCLEAN_NAME_PROBLEM)
    return text


def _event_name(value: Any) -> str:
    if value is MISSING:
        raise FieldError("is required")
    if value is None:
        raise FieldError("must not be null")
    return _text(value, max_length=MAX_METRIC_NAME, why=": Klaviyo's limit for a metric name")


def email_check(value: Any) -> str | None:
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
        if depth > MAX_NESTING:
            raise FieldError(f"must not be nested deeper than {MAX_NESTING} levels")
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
        if depth > MAX_NESTING:
            raise FieldError(f"must not be nested deeper than {MAX_NESTING} levels")
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
        if isinstance(value, str):
            if UNCLEAN_NAME.search(value):
                errors[prefix + key] = [UNCLEAN_NAME_PROBLEM]
            continue
        if isinstance(value, int | float) and type(value) is not bool:
            continue
        kind = "a number" if key in NUMERIC_LOCATION else "text"
        errors[prefix + key] = [f"must be a string or a number: Klaviyo takes {key} as {kind}"]
    return errors


def profile_attributes_check(value: Any) -> tuple[dict[str, Any], int]:
    attributes, bound = _attributes(value)
    errors: dict[str, list[str]] = {}
    # Klaviyo's standard email (one name in both spellings): of a profile known by another
    # identifier it is the email Klaviyo gets, and Klaviyo answers an invalid one with a 400.
    # Checked and normalised as the top-level email is, so that the two compare equal.
    if attributes.get("email") is not None:
        try:
            email = email_check(attributes["email"])
        except FieldError as error:
            errors["email"] = [str(error.detail)]
        else:
            if email != attributes["email"]:
                attributes = {**attributes, "email": email}  # not the client's dict
    # Klaviyo takes Klaviyo's own snake_case names as well as the camelCase ones.
    for key in ("phoneNumber", "phone_number"):
        phone = attributes.get(key)
        if phone is not None and (not isinstance(phone, str) or not E164.fullmatch(phone)):
            errors[key] = ["must be in E.164 format, like +15005550006"]
    for key in ("externalId", "anonymousId"):
        identifier = attributes.get(key)
        if identifier is not None and (
            not isinstance(identifier, str) or not identifier.strip() or len(identifier) > 255
        ):
            errors[key] = ["must be a non-empty string of at most 255 characters"]
        elif isinstance(identifier, str) and UNCLEAN_NAME.search(identifier):
            errors[key] = [UNCLEAN_NAME_PROBLEM]
    for key, problem in _profile_text_problems(attributes).items():
        errors.setdefault(key, problem)
    if isinstance(attributes.get("location"), dict):
        errors.update(_profile_text_problems(attributes["location"], prefix="location."))
    if errors:
        raise FieldError(errors)
    return attributes, bound


def json_bytes(value: dict[str, Any]) -> bytes:
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
                # As DRF's DateTimeField: a naive time is in the time zone of the settings,
                # UTC (nothing activates another); an aware one is converted to it.
                parsed = (
                    parsed.astimezone(UTC)
                    if parsed.utcoffset() is not None
                    else parsed.replace(tzinfo=UTC)
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
    # A JSON number, as the schema says (type number): "12" or true are not converted.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FieldError("must be a number")
    try:
        number = float(value)
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
    ("email", "email", email_check),
    ("eventAttributes", "event_attributes", _event_attributes),
    ("profileAttributes", "profile_attributes", profile_attributes_check),
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
    if data.keys() - EVENT_PROPERTIES:  # the set difference first: most events have none
        errors[api_settings.NON_FIELD_ERRORS_KEY] = unknown_property_errors(data, EVENT_PROPERTIES)
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
            len(json_bytes(events)) + len(json_bytes(profile)) > MAX_EVENT_BYTES
        ):
            errors[api_settings.NON_FIELD_ERRORS_KEY] = [
                "eventAttributes and profileAttributes must be at most 5 MB "
                f"({MAX_EVENT_BYTES} bytes of JSON) together: Klaviyo's limit for an event"
            ]
    if errors:
        raise serializers.ValidationError(errors)
    return clean
