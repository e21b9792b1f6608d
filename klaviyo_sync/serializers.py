"""Input and output serializers of the /klaviyo endpoints (camelCase on the wire)."""

from rest_framework import serializers

from core.serializers import IsoDateTimeField
from core.strict_input import StrictInputSerializer

MAX_PAGE_SIZE = 200  # Klaviyo returns at most 200 events per page


class ConnectionCheckSerializer(serializers.Serializer):
    connected = serializers.BooleanField()
    message = serializers.CharField()
    revision = serializers.CharField(help_text="the Klaviyo API revision we send")
    latencyMs = serializers.FloatField(
        source="latency_ms", allow_null=True, help_text="round trip of the check, milliseconds"
    )


class KlaviyoMetricSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    created = serializers.CharField(required=False, allow_null=True)
    updated = serializers.CharField(required=False, allow_null=True)
    integration = serializers.JSONField(required=False, allow_null=True)


class KlaviyoMetricsSerializer(serializers.Serializer):
    metrics = KlaviyoMetricSerializer(many=True)


class KlaviyoProfileSerializer(serializers.Serializer):
    """Klaviyo's profile: its standard attributes camelCase, custom `properties` as sent."""

    id = serializers.CharField()
    email = serializers.CharField(allow_null=True, required=False)
    phoneNumber = serializers.CharField(allow_null=True, required=False)
    externalId = serializers.CharField(allow_null=True, required=False)
    firstName = serializers.CharField(allow_null=True, required=False)
    lastName = serializers.CharField(allow_null=True, required=False)
    organization = serializers.CharField(allow_null=True, required=False)
    title = serializers.CharField(allow_null=True, required=False)
    image = serializers.CharField(allow_null=True, required=False)
    locale = serializers.CharField(allow_null=True, required=False)
    location = serializers.JSONField(allow_null=True, required=False)
    properties = serializers.JSONField()
    created = serializers.CharField(allow_null=True, required=False)
    updated = serializers.CharField(allow_null=True, required=False)
    lastEventDate = serializers.CharField(allow_null=True, required=False)


class ProfileLookupSerializer(serializers.Serializer):
    email = serializers.EmailField(error_messages={"invalid": "must be a valid email"})


class KlaviyoEventsQuerySerializer(serializers.Serializer):
    metric = serializers.CharField(
        required=False, max_length=255, help_text="metric (event) name, as in eventName"
    )
    email = serializers.EmailField(
        required=False, error_messages={"invalid": "must be a valid email"}
    )
    since = serializers.DateTimeField(required=False, help_text="inclusive, ISO-8601")
    until = serializers.DateTimeField(required=False, help_text="exclusive, ISO-8601")
    cursor = serializers.CharField(required=False, help_text="nextCursor of the previous page")
    pageSize = serializers.IntegerField(
        source="page_size", required=False, default=50, min_value=1, max_value=MAX_PAGE_SIZE
    )

    def validate(self, attrs: dict) -> dict:
        since, until = attrs.get("since"), attrs.get("until")
        if since and until and since >= until:
            raise serializers.ValidationError("since must be before until")
        return attrs


class KlaviyoEventSerializer(serializers.Serializer):
    id = serializers.CharField()
    metricId = serializers.CharField(allow_null=True)
    profileId = serializers.CharField(allow_null=True)
    email = serializers.CharField(allow_null=True)
    datetime = serializers.CharField(allow_null=True)
    timestamp = serializers.IntegerField(allow_null=True)
    uuid = serializers.CharField(allow_null=True)
    properties = serializers.JSONField()


class KlaviyoEventsPageSerializer(serializers.Serializer):
    events = KlaviyoEventSerializer(many=True)
    nextCursor = serializers.CharField(
        source="next_cursor", allow_null=True, help_text="pass as `cursor` for the next page"
    )


class SyncTestInputSerializer(StrictInputSerializer):
    email = serializers.EmailField(
        required=False,
        default="klaviyo-sync-test@example.com",
        error_messages={"invalid": "must be a valid email"},
    )
    eventName = serializers.CharField(
        source="event_name", required=False, default="Klaviyo Sync Test", max_length=127
    )


class SyncTestOutputSerializer(serializers.Serializer):
    sent = serializers.BooleanField()
    status = serializers.IntegerField(allow_null=True, help_text="Klaviyo's HTTP status")
    message = serializers.CharField(help_text="Klaviyo's answer, or what went wrong")
    latencyMs = serializers.FloatField(source="latency_ms", allow_null=True)
    uniqueId = serializers.CharField(source="unique_id")
    email = serializers.EmailField()
    eventName = serializers.CharField(source="event_name")
    sentAt = IsoDateTimeField(source="sent_at")
