"""What the validators of events and profiles (events/validators.py) enforce beyond one field's
type, said in JSON Schema for the OpenAPI document, from the validators' own constants: the
standard attributes among profileAttributes, and who the event or profile is about."""

from typing import Any

from events.validators import CLEAN_TEXT_PATTERN, NAME_PATTERN
from klaviyo_client.mapping import E164
from klaviyo_client.names import LOCATION_ATTRIBUTES, STANDARD_ATTRIBUTES

MAX_IDENTIFIER = 255  # externalId, anonymousId (profile_attributes_check)
IDENTIFIERS = ("phoneNumber", "externalId", "anonymousId")

# A standard or location attribute: text or a number, null to erase it. (No `type`: OpenAPI 3.0
# has no type lists, and each branch says its own.)
_TEXT_OR_NUMBER = {
    "anyOf": [
        {"type": "string", "pattern": CLEAN_TEXT_PATTERN, "nullable": True},
        {"type": "number", "nullable": True},
    ]
}
_PHONE = {
    "type": "string",
    "nullable": True,
    "pattern": E164.pattern,
    "description": "E.164, like +15005550006",
}
# As the top-level email (an EmailField): profile_attributes_check checks it with email_check.
_EMAIL = {"type": "string", "nullable": True, "format": "email", "maxLength": 254}
_IDENTIFIER = {
    "type": "string",
    "nullable": True,
    "maxLength": MAX_IDENTIFIER,
    "pattern": NAME_PATTERN,
}


def _profile_attribute_properties() -> dict[str, Any]:
    properties: dict[str, Any] = {
        name: _TEXT_OR_NUMBER for name in sorted(set(STANDARD_ATTRIBUTES) | LOCATION_ATTRIBUTES)
    }
    properties.update({"email": _EMAIL, "phoneNumber": _PHONE, "phone_number": _PHONE})
    properties.update({"externalId": _IDENTIFIER, "anonymousId": _IDENTIFIER})
    # Only an object `location` is Klaviyo's location, checked key by key: no `type` here, so
    # that `properties` applies to an object and anything else passes as a custom property.
    properties["location"] = {
        "properties": {name: _TEXT_OR_NUMBER for name in sorted(LOCATION_ATTRIBUTES)}
    }
    return properties


# The schema of profileAttributes (events.serializers.ProfileAttributesField): any keys, the
# standard ones checked.
PROFILE_ATTRIBUTES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": {},
    "properties": _profile_attribute_properties(),
}

# An event, and a profile, needs someone to be about: an email, or one of the identifiers among
# its profileAttributes (a null one does not count).
IDENTITY_ANY_OF: list[dict[str, Any]] = [
    {"required": ["email"], "properties": {"email": {"type": "string"}}},
    *(
        {
            "required": ["profileAttributes"],
            "properties": {
                "profileAttributes": {
                    "required": [name],
                    "properties": {name: {"type": "string"}},
                }
            },
        }
        for name in IDENTIFIERS
    ),
]
