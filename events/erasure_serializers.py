"""Input and output of the erasure endpoints (DELETE /profiles/{email}, POST /profiles/erasures,
GET /profiles/erasures/{id})."""

from typing import Any

from rest_framework import serializers
from rest_framework.settings import api_settings

from core.serializers import IsoDateTimeField, iso_utc
from core.strict_input import unknown_property_errors
from events.models import ErasureIdentifier, ErasureRequest
from events.validators import UNCLEAN_NAME, FieldError, email_check
from klaviyo_client.mapping import E164

# (wire name, kind): what a body of POST /profiles/erasures may name a person by, one of them.
ERASURE_IDENTIFIERS = (
    ("email", ErasureIdentifier.EMAIL),
    ("phoneNumber", ErasureIdentifier.PHONE_NUMBER),
    ("externalId", ErasureIdentifier.EXTERNAL_ID),
)
MAX_EXTERNAL_ID = 255
ONE_IDENTIFIER = "give exactly one of email, phoneNumber, externalId"


def _identifier_check(kind: str, value: Any) -> str:
    if kind == ErasureIdentifier.EMAIL:
        if value is None:
            raise FieldError("must be a valid email")
        return email_check(value) or ""
    if not isinstance(value, str):
        raise FieldError("must be a string")
    if kind == ErasureIdentifier.PHONE_NUMBER:
        if not E164.fullmatch(value):
            raise FieldError("must be in E.164 format, like +15005550006")
        return value
    if not value.strip() or len(value) > MAX_EXTERNAL_ID:
        raise FieldError(f"must be a non-empty string of at most {MAX_EXTERNAL_ID} characters")
    if UNCLEAN_NAME.search(value):
        raise FieldError("must not contain control characters or bidirectional overrides")
    return value


class ErasureInputSerializer(serializers.Serializer):
    """The body of POST /profiles/erasures: exactly one identifier. (The schema of the body is
    declared in events/erasure_openapi.py, as one of three one-property objects.)"""

    def run_validation(self, data: Any = serializers.empty) -> dict[str, str]:
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {api_settings.NON_FIELD_ERRORS_KEY: ["must be a JSON object"]}
            )
        errors: dict[str, list[str]] = {}
        if unknown := unknown_property_errors(data, [name for name, _ in ERASURE_IDENTIFIERS]):
            errors[api_settings.NON_FIELD_ERRORS_KEY] = unknown
        given = [(name, kind) for name, kind in ERASURE_IDENTIFIERS if name in data]
        if len(given) != 1:
            errors.setdefault(api_settings.NON_FIELD_ERRORS_KEY, []).append(ONE_IDENTIFIER)
        clean: dict[str, str] = {}
        for name, kind in given:
            try:
                clean = {"kind": kind, "value": _identifier_check(kind, data[name])}
            except FieldError as error:
                errors[name] = [str(error.detail)]
        if errors:
            raise serializers.ValidationError(errors)
        return clean


class ErasureOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(
        choices=["pending", "sent", "failed"],
        help_text="pending until Klaviyo accepted the deletion job (sent); failed when Klaviyo "
        "refused it or every retry failed (lastError says why)",
    )
    identifierKind = serializers.ChoiceField(
        choices=[kind.value for kind in ErasureIdentifier],
        help_text="what named the person: email, phone_number or external_id",
    )
    identifierSha256 = serializers.CharField(
        help_text="hex SHA-256 of the identifier (UTF-8, an email lower-cased): all that is "
        "kept of it once Klaviyo accepted the request"
    )
    deletedEvents = serializers.IntegerField(help_text="events of the person deleted here")
    deletedProfiles = serializers.IntegerField(help_text="profiles deleted here (0 or more)")
    attempts = serializers.IntegerField(help_text="requests made to Klaviyo so far")
    lastError = serializers.CharField(help_text="Klaviyo's last refusal or failure, or empty")
    requestedAt = IsoDateTimeField()
    sentAt = IsoDateTimeField(allow_null=True, help_text="when Klaviyo accepted the request")

    def to_representation(self, instance: ErasureRequest) -> dict[str, Any]:
        return {
            "id": str(instance.id),
            "status": instance.status,
            "identifierKind": instance.identifier_kind,
            "identifierSha256": instance.identifier_sha256,
            "deletedEvents": instance.deleted_events,
            "deletedProfiles": instance.deleted_profiles,
            "attempts": instance.attempts,
            "lastError": instance.last_error,
            "requestedAt": iso_utc(instance.requested_at),
            "sentAt": iso_utc(instance.sent_at),
        }
