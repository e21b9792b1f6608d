"""Input and output of /profiles. The fields describe the contract for the schema;
serializers.profile_input_validate enforces it, as event_input_validate does for events."""

from typing import Any

from rest_framework import serializers

from core.serializers import IsoDateTimeField, iso_utc
from core.strict_input import BulkListField, StrictInputSerializer
from events.input_schemas import IDENTITY_ANY_OF
from events.models import Profile
from events.profile_validators import profile_input_validate
from events.serializers import ProfileAttributesField


class ProfileInputSerializer(serializers.Serializer):
    # For the schema (core/schema_hooks.py): what the validator refuses beyond the fields.
    refuses_unknown_properties = True
    openapi_extra = {"anyOf": IDENTITY_ANY_OF}

    email = serializers.EmailField(
        required=False, allow_null=True, max_length=254, help_text="Stored lower-cased."
    )
    profileAttributes = ProfileAttributesField(
        source="profile_attributes",
        required=False,
        help_text="Merged over the profile's attributes (null removes a key, here and in "
        "Klaviyo). phoneNumber (E.164), externalId or anonymousId identify a profile without "
        "email. Klaviyo's standard attributes (firstName, city, ...) are strings or numbers; "
        "email is a valid email, stored lower-cased and trimmed as the top-level one.",
    )

    def run_validation(self, data: Any = serializers.empty) -> dict[str, Any]:
        return profile_input_validate(None if data is serializers.empty else data)


class ProfileOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField(allow_null=True)
    phoneNumber = serializers.CharField(allow_null=True)
    externalId = serializers.CharField(allow_null=True)
    anonymousId = serializers.CharField(allow_null=True)
    attributes = serializers.JSONField(help_text="the merge of everything clients sent")
    klaviyoId = serializers.CharField(allow_null=True, help_text="once Klaviyo has it")
    syncStatus = serializers.CharField(help_text="pending, sent, failed or skipped")
    lastError = serializers.CharField(help_text="Klaviyo's last refusal, empty when none")
    createdAt = IsoDateTimeField()
    updatedAt = IsoDateTimeField()

    def to_representation(self, instance: Profile) -> dict[str, Any]:
        return {
            "id": instance.id,
            "email": instance.email,
            "phoneNumber": instance.phone_number,
            "externalId": instance.external_id,
            "anonymousId": instance.anonymous_id,
            "attributes": instance.attributes,
            "klaviyoId": instance.klaviyo_id,
            "syncStatus": instance.sync_status,
            "lastError": instance.last_error,
            "createdAt": iso_utc(instance.created_at),
            "updatedAt": iso_utc(instance.updated_at),
        }


class ProfileEmailPathSerializer(serializers.Serializer):
    """The `{email}` of /profiles/{email}; case-insensitive."""

    email = serializers.EmailField(
        max_length=254, error_messages={"invalid": "must be a valid email"}
    )

    def validate_email(self, value: str) -> str:
        return value.strip().lower()


class ProfileListField(BulkListField):
    """The profiles of a bulk request, at most BULK_MAX_PROFILES."""

    default_error_messages = {
        "empty": "must hold at least one profile",
        "max_length": "must hold at most {max_length} profiles",
    }
    limit_setting = "BULK_MAX_PROFILES"
    item_validate = staticmethod(profile_input_validate)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=ProfileInputSerializer(), **kwargs)


class BulkProfilesInputSerializer(StrictInputSerializer):
    default_error_messages = {"invalid": "must be a JSON object"}

    profiles = ProfileListField()


class BulkProfileItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField(allow_null=True)


# The answer to a bulk upsert, in request order. (A comment, not a docstring: a docstring would
# become the component's description in the schema.)
class BulkProfilesOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="profiles in the request")
    profiles = BulkProfileItemSerializer(many=True)

    def to_representation(self, instance: list[tuple[int, str | None]]) -> dict[str, Any]:
        # Up to 10,000 items: plain dicts (the declared fields are the schema).
        return {
            "count": len(instance),
            "profiles": [{"id": pk, "email": email} for pk, email in instance],
        }
