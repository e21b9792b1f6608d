"""The check of a profile as a client sent it (POST /profiles and each item of its bulk), with
the checks of an event's email and profileAttributes (events/validators.py): a profile is
refused for what its event would be refused for."""

from typing import Any

from rest_framework import serializers
from rest_framework.settings import api_settings

from core.strict_input import unknown_property_errors
from events.validators import (
    MISSING,
    FieldError,
    email_check,
    json_bytes,
    profile_attributes_check,
)
from klaviyo_client.limits import MAX_EVENT_BYTES

# (wire name, service name, check), as EVENT_FIELDS: the body of POST /profiles and of each
# item of POST /profiles/bulk.
PROFILE_FIELDS = (
    ("email", "email", email_check),
    ("profileAttributes", "profile_attributes", profile_attributes_check),
)
PROFILE_PROPERTIES = frozenset(name for name, _, _ in PROFILE_FIELDS)


def profile_input_validate(data: Any) -> dict[str, Any]:
    """One profile as a client sent it -> {email, profile_attributes}; identified as an event's
    profile is (email, or phoneNumber, externalId or anonymousId among the attributes)."""
    if not isinstance(data, dict):
        raise serializers.ValidationError(
            {api_settings.NON_FIELD_ERRORS_KEY: ["must be a JSON object"]}
        )
    clean: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    for name, source, check in PROFILE_FIELDS:
        try:
            clean[source] = check(data.get(name, MISSING))
        except FieldError as error:
            errors[name] = [error.detail] if isinstance(error.detail, str) else error.detail
    if unknown := unknown_property_errors(data, PROFILE_PROPERTIES):
        errors[api_settings.NON_FIELD_ERRORS_KEY] = unknown
    if not errors:
        attributes, bound = clean["profile_attributes"]
        clean["profile_attributes"] = attributes
        if not (
            clean["email"]
            or attributes.get("phoneNumber")
            or attributes.get("externalId")
            or attributes.get("anonymousId")
        ):
            errors[api_settings.NON_FIELD_ERRORS_KEY] = [
                "a profile needs email, profileAttributes.phoneNumber, "
                "profileAttributes.externalId or profileAttributes.anonymousId"
            ]
        elif bound > MAX_EVENT_BYTES and len(json_bytes(attributes)) > MAX_EVENT_BYTES:
            errors["profileAttributes"] = [
                f"must be at most 5 MB ({MAX_EVENT_BYTES} bytes of JSON): Klaviyo's limit "
                "for a request"
            ]
    if errors:
        raise serializers.ValidationError(errors)
    return clean
