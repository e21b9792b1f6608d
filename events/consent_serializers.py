"""Input and output of the consent endpoints (POST /profiles/subscriptions, /unsubscriptions,
/suppressions, /unsuppressions, GET /profiles/consent-changes/{id}). What the schema can say
(types, lengths, patterns, formats) the fields declare; the rules across fields (an address per
channel, consentedAt with historicalImport) are checked in `validate` and described in the
schema's text (events/consent_openapi.py)."""

from datetime import datetime
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.serializers import IsoDateTimeField, iso_utc
from core.strict_input import StrictInputSerializer
from events.models import ConsentChange, Profile
from events.profile_serializers import ProfileOutputSerializer
from events.validators import FieldError, email_check
from klaviyo_client.consent import CHANNELS
from klaviyo_client.limits import LIST_ID_PATTERN, MAX_CONSENT_PROFILES
from klaviyo_client.mapping import E164

LIST_ID_HELP = "Klaviyo's id of the list (6 letters and digits, as Y6nRLr)."


class StrictBooleanField(serializers.BooleanField):
    """A JSON true or false; "true", 1 or "yes" are refused, not converted."""

    default_error_messages = {"invalid": "must be a boolean"}

    def to_internal_value(self, data: Any) -> bool:
        if data is True or data is False:
            return data
        self.fail("invalid")


class ListIdField(serializers.RegexField):
    default_error_messages = {"invalid": "must be a Klaviyo list id (6 letters and digits)"}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(LIST_ID_PATTERN, max_length=6, help_text=LIST_ID_HELP, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class AddressEmailField(serializers.EmailField):
    """An email as the events' check takes it (a JSON string, a valid address), lower-cased."""

    default_error_messages = {"invalid": "must be a valid email"}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=254, help_text="Lower-cased.", **kwargs)

    def to_internal_value(self, data: Any) -> str:
        try:
            email = email_check(data)
        except FieldError:
            self.fail("invalid")
        if email is None:
            self.fail("invalid")
        return email


class PhoneNumberField(serializers.RegexField):
    default_error_messages = {"invalid": "must be in E.164 format (+15005550006)"}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(E164.pattern, max_length=16, help_text="E.164 (+15005550006).", **kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string", "enum": list(CHANNELS)},
        "minItems": 1,
        "maxItems": len(CHANNELS),
        "uniqueItems": True,
    }
)
class ChannelsField(serializers.Field):
    default_error_messages = {
        "invalid": "must be an array of channels: " + ", ".join(CHANNELS),
        "empty": "must name at least one channel",
        "repeated": "must not repeat a channel",
    }

    def to_internal_value(self, data: Any) -> list[str]:
        if not isinstance(data, list) or not all(item in CHANNELS for item in data):
            self.fail("invalid")
        if not data:
            self.fail("empty")
        if len(set(data)) != len(data):
            self.fail("repeated")
        return [channel for channel in CHANNELS if channel in data]

    def to_representation(self, value: list[str]) -> list[str]:
        return value


def bounded_list(child: serializers.Field, *, noun: str, **kwargs: Any) -> serializers.ListField:
    """1 to MAX_CONSENT_PROFILES items (Klaviyo's cap per subscription job)."""
    return serializers.ListField(
        child=child,
        min_length=1,
        max_length=MAX_CONSENT_PROFILES,
        error_messages={
            "empty": f"must hold at least one {noun}",
            "min_length": f"must hold at least one {noun}",
            "max_length": f"must hold at most {MAX_CONSENT_PROFILES} {noun}s",
        },
        **kwargs,
    )


class UnsubscribeProfileSerializer(StrictInputSerializer):
    default_error_messages = {"invalid": "must be a JSON object"}
    # For the schema (core/schema_hooks.py): validate's rule, one of the two.
    openapi_extra = {"anyOf": [{"required": ["email"]}, {"required": ["phoneNumber"]}]}

    email = AddressEmailField(required=False)
    phoneNumber = PhoneNumberField(source="phone_number", required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("email") and not attrs.get("phone_number"):
            raise serializers.ValidationError("must have an email or a phoneNumber")
        return attrs


class SubscribeProfileSerializer(UnsubscribeProfileSerializer):
    consentedAt = serializers.DateTimeField(
        source="consented_at",
        required=False,
        help_text="When the person consented, in the past: only (and always) with "
        "historicalImport (Klaviyo's rule).",
    )


def _address_problems(
    item: dict[str, Any], *, channels: list[str], historical_import: bool, now: datetime
) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    if "email" in channels and not item.get("email"):
        problems["email"] = ["is required for the email channel"]
    if "sms" in channels and not item.get("phone_number"):
        problems["phoneNumber"] = ["is required for the sms channel (E.164)"]
    consented_at = item.get("consented_at")
    if consented_at is not None and not historical_import:
        problems["consentedAt"] = ["is allowed only with historicalImport: true (Klaviyo's rule)"]
    elif consented_at is None and historical_import:
        problems["consentedAt"] = ["is required with historicalImport: true (Klaviyo's rule)"]
    elif consented_at is not None and consented_at > now:
        problems["consentedAt"] = ["must be in the past"]
    return problems


class UnsubscriptionInputSerializer(StrictInputSerializer):
    default_error_messages = {"invalid": "must be a JSON object"}

    channels = ChannelsField(help_text="The channels to unsubscribe from: email, sms.")
    listId = ListIdField(source="list_id", required=False)
    profiles = bounded_list(UnsubscribeProfileSerializer(), noun="profile")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        historical = attrs.get("historical_import", False)
        now = timezone.now()
        errors = {
            index: problems
            for index, item in enumerate(attrs["profiles"])
            if (
                problems := _address_problems(
                    item, channels=attrs["channels"], historical_import=historical, now=now
                )
            )
        }
        if errors:
            raise serializers.ValidationError({"profiles": errors})
        return attrs


class SubscriptionInputSerializer(UnsubscriptionInputSerializer):
    channels = ChannelsField(help_text="The channels to subscribe to: email, sms.")
    listId = ListIdField(source="list_id")
    profiles = bounded_list(SubscribeProfileSerializer(), noun="profile")
    historicalImport = StrictBooleanField(
        source="historical_import",
        required=False,
        default=False,
        help_text="Consent collected earlier: each profile's consentedAt is then required.",
    )


class EmailsInputSerializer(StrictInputSerializer):
    default_error_messages = {"invalid": "must be a JSON object"}

    emails = bounded_list(AddressEmailField(), noun="email")


class ConsentChangeAcceptedSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="GET /profiles/consent-changes/{id} follows it")
    status = serializers.CharField(help_text="pending until sent to Klaviyo")
    count = serializers.IntegerField(help_text="addresses in the change")

    def to_representation(self, instance: ConsentChange) -> dict[str, Any]:
        return {"id": instance.id, "status": instance.status, "count": instance.profile_count}


class ConsentChangeOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField(
        help_text="subscribe, unsubscribe, suppress, unsuppress, list_add or list_remove"
    )
    status = serializers.CharField(help_text="pending, sent or failed")
    channels = serializers.ListField(child=serializers.CharField())
    listId = serializers.CharField(allow_null=True)
    historicalImport = serializers.BooleanField()
    count = serializers.IntegerField(help_text="addresses in the change")
    sentCount = serializers.IntegerField(help_text="addresses Klaviyo has accepted so far")
    attempts = serializers.IntegerField()
    lastError = serializers.CharField(help_text="Klaviyo's last refusal, empty when none")
    klaviyoJobId = serializers.CharField(
        allow_null=True,
        help_text="the job Klaviyo created for the last accepted request (suppression jobs "
        "have one; subscription jobs answer without an id)",
    )
    klaviyoJobIds = serializers.ListField(child=serializers.CharField())
    nextAttemptAt = IsoDateTimeField(allow_null=True)
    createdAt = IsoDateTimeField()
    sentAt = IsoDateTimeField(allow_null=True)

    def to_representation(self, instance: ConsentChange) -> dict[str, Any]:
        job_ids = list(instance.klaviyo_job_ids or [])
        return {
            "id": instance.id,
            "kind": instance.kind,
            "status": instance.status,
            "channels": instance.channels,
            "listId": instance.list_id,
            "historicalImport": instance.historical_import,
            "count": instance.profile_count,
            "sentCount": instance.sent_count,  # annotated (events.selectors.consent_change_get)
            "attempts": instance.attempts,
            "lastError": instance.last_error,
            "klaviyoJobId": job_ids[-1] if job_ids else None,
            "klaviyoJobIds": job_ids,
            "nextAttemptAt": iso_utc(instance.next_attempt_at),
            "createdAt": iso_utc(instance.created_at),
            "sentAt": iso_utc(instance.sent_at),
        }


class ConsentStateSerializer(serializers.Serializer):
    status = serializers.CharField(
        help_text="subscribed or unsubscribed; suppressed or unsuppressed"
    )
    changeId = serializers.IntegerField(help_text="the consent change that set it")
    sentAt = IsoDateTimeField(help_text="when Klaviyo accepted it")


class ProfileConsentSerializer(serializers.Serializer):
    email = ConsentStateSerializer(allow_null=True, help_text="email marketing")
    sms = ConsentStateSerializer(allow_null=True, help_text="SMS marketing")
    suppression = ConsentStateSerializer(allow_null=True, help_text="email suppression")


class ListMembershipSerializer(serializers.Serializer):
    listId = serializers.CharField()
    changeId = serializers.IntegerField(help_text="the consent change that added the profile")
    sentAt = IsoDateTimeField()


class ProfileWithConsentSerializer(ProfileOutputSerializer):
    """GET /profiles/{email}: the profile with its consent and lists as last sent to Klaviyo
    (null: nothing sent yet); `instance` is (profile, events.consent_selectors.profile_consent)."""

    consent = ProfileConsentSerializer(
        help_text="per channel, the last consent change Klaviyo accepted for this person"
    )
    lists = ListMembershipSerializer(
        many=True, help_text="the lists the last accepted changes put the person in"
    )

    def to_representation(self, instance: tuple[Profile, dict[str, Any]]) -> dict[str, Any]:
        profile, state = instance

        def shown(value: dict[str, Any] | None) -> dict[str, Any] | None:
            return value and {**value, "sentAt": iso_utc(value["sentAt"])}

        return {
            **super().to_representation(profile),
            "consent": {name: shown(value) for name, value in state["consent"].items()},
            "lists": [shown(item) for item in state["lists"]],
        }
