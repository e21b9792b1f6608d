"""Input and output serializers of the /klaviyo endpoints and of the events' read endpoints
(GET /events/metrics, count, emails, profiles/{email}/...). camelCase on the wire; for the
read endpoints, the old service's keys first, ours beside them."""

import base64
import binascii
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from django.core.validators import RegexValidator
from rest_framework import serializers

from core.serializers import IsoDateTimeField
from core.strict_input import QueryInputSerializer, StrictInputSerializer
from events.validators import NAME_PATTERN, UNCLEAN_NAME_PROBLEM
from klaviyo_client.limits import DEFAULT_EVENTS_PAGE, MAX_LISTS_PAGE

# Pages of GET /klaviyo/events hold at most Klaviyo's default page: the request waits for them.
MAX_PAGE_SIZE = DEFAULT_EVENTS_PAGE


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


class KlaviyoEventsQuerySerializer(QueryInputSerializer):
    metric = serializers.CharField(
        required=False, max_length=255, help_text="metric (event) name, as in eventName"
    )
    email = serializers.EmailField(
        required=False, error_messages={"invalid": "must be a valid email"}
    )
    since = serializers.DateTimeField(required=False, help_text="inclusive, ISO-8601")
    until = serializers.DateTimeField(
        required=False, help_text="exclusive, ISO-8601; after since (else 400)"
    )
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


class KlaviyoListsQuerySerializer(QueryInputSerializer):
    name = serializers.CharField(
        required=False, max_length=255, help_text="only the lists of exactly this name"
    )
    cursor = serializers.CharField(required=False, help_text="nextCursor of the previous page")
    pageSize = serializers.IntegerField(
        source="page_size",
        required=False,
        default=MAX_LISTS_PAGE,
        min_value=1,
        max_value=MAX_LISTS_PAGE,
        help_text="Klaviyo serves at most 10 lists a page",
    )


class KlaviyoListSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField(allow_null=True)
    created = serializers.CharField(allow_null=True, default=None)
    updated = serializers.CharField(allow_null=True, default=None)
    optInProcess = serializers.CharField(
        allow_null=True, default=None, help_text="single_opt_in or double_opt_in"
    )


class KlaviyoListsPageSerializer(serializers.Serializer):
    lists = KlaviyoListSerializer(many=True)
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
        source="event_name",
        required=False,
        default="Klaviyo Sync Test",
        max_length=127,
        validators=[RegexValidator(NAME_PATTERN, f"must not be blank; {UNCLEAN_NAME_PROBLEM}")],
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


# --- The events' read endpoints -----------------------------------------------------------------

SOURCE_HELP = (
    "Where the answer came from. `klaviyo`: Klaviyo's data, which holds only the events that "
    "reached it (not those still pending here) and may hold older ones (no retention). `local`: "
    "this service's database, every stored event whatever its sync status, within the retention "
    "period; used without a Klaviyo key or when Klaviyo failed or was too slow."
)
SOURCES = ["klaviyo", "local"]
MAX_EMAILS_PAGE = 1000


TIME_ZONES = sorted(available_timezones())
# The cursor of the emails' pages: base64url of a page's last email, unpadded. Any text of that
# alphabet and a length base64 can end on is a cursor (the schema's pattern): its bytes, read as
# UTF-8, are where the next page starts, after them in code-point order.
EMAILS_CURSOR_PATTERN = r"^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2,3})?$"
EMAILS_CURSOR_MAX = 1356  # base64 of an email of 254 characters of 4 bytes of UTF-8 each


def cursor_encode(email: str) -> str:
    """The opaque cursor: the last email of a page, base64url without padding."""
    return base64.urlsafe_b64encode(email.encode()).decode().rstrip("=")


def cursor_decode(cursor: str) -> str:
    padded = cursor + "=" * (-len(cursor) % 4)
    raw = base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True)
    return raw.decode(errors="replace")


# --- Input --------------------------------------------------------------------------------------


class DayQuerySerializer(QueryInputSerializer):
    metric = serializers.CharField(
        max_length=255,
        help_text="The metric (event name), e.g. Purchase.",
        error_messages={"blank": "must not be empty", "max_length": "must be at most 255 long"},
    )
    date = serializers.DateField(
        input_formats=["%Y-%m-%d"],
        help_text="The day, YYYY-MM-DD, in `tz`.",
        error_messages={"invalid": "must be a date in YYYY-MM-DD format"},
    )
    tz = serializers.ChoiceField(
        choices=TIME_ZONES,
        required=False,
        default="UTC",
        help_text=(
            "IANA time zone whose day it is (default UTC); the day runs from local midnight to "
            "the next, 23 or 25 hours on DST days."
        ),
        error_messages={"invalid_choice": "must be an IANA time zone, like America/New_York"},
    )

    def validate_tz(self, value: str) -> ZoneInfo:
        return ZoneInfo(value)


class EmailsQuerySerializer(DayQuerySerializer):
    limit = serializers.IntegerField(
        required=False,
        default=100,
        min_value=1,
        max_value=MAX_EMAILS_PAGE,
        help_text=f"Emails per page, 1 to {MAX_EMAILS_PAGE} (default 100).",
        error_messages={
            "invalid": "must be an integer",
            "min_value": "must be at least 1",
            "max_value": f"must be at most {MAX_EMAILS_PAGE}",
        },
    )
    cursor = serializers.CharField(
        required=False,
        min_length=2,
        max_length=EMAILS_CURSOR_MAX,
        validators=[
            RegexValidator(EMAILS_CURSOR_PATTERN, "must be the nextCursor of a previous answer")
        ],
        help_text="`nextCursor` of the previous page.",
        error_messages={
            "blank": "must not be empty",
            "min_length": "must be the nextCursor of a previous answer",
            "max_length": "must be the nextCursor of a previous answer",
        },
    )

    def validate_cursor(self, value: str) -> str:
        try:
            return cursor_decode(value)
        except (binascii.Error, UnicodeError, ValueError) as error:
            raise serializers.ValidationError(
                "must be the nextCursor of a previous answer"
            ) from error


class ProfileEmailSerializer(serializers.Serializer):
    """The `{email}` of the profile paths; case-insensitive."""

    email = serializers.EmailField(
        max_length=254, error_messages={"invalid": "must be a valid email"}
    )

    def validate_email(self, value: str) -> str:
        return value.strip().lower()


# --- Output -------------------------------------------------------------------------------------


class CursorField(serializers.CharField):
    """The opaque cursor of the page after the email it holds."""

    def to_representation(self, value: str) -> str:
        return cursor_encode(value)


class SourceField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=SOURCES, help_text=SOURCE_HELP, **kwargs)


class MetricItemSerializer(serializers.Serializer):
    name = serializers.CharField()
    klaviyoId = serializers.CharField(
        source="klaviyo_id", allow_null=True, help_text="Klaviyo's metric id, when known."
    )
    localCount = serializers.IntegerField(
        source="local_count", help_text="Events of this metric stored here (any sync status)."
    )


class MetricsOutputSerializer(serializers.Serializer):
    metrics = MetricItemSerializer(many=True)
    source = SourceField()


class DayAnswerSerializer(serializers.Serializer):
    metric = serializers.CharField()
    date = serializers.DateField()
    timezone = serializers.CharField(help_text="The IANA zone of the day.")
    start = IsoDateTimeField(help_text="The day's first instant, UTC.")
    end = IsoDateTimeField(help_text="The next day's first instant (excluded), UTC.")
    klaviyoMetricId = serializers.CharField(
        source="klaviyo_metric_id", allow_null=True, help_text="Klaviyo's metric id, when known."
    )


class CountOutputSerializer(DayAnswerSerializer):
    count = serializers.IntegerField()
    source = SourceField()


class EmailsOutputSerializer(DayAnswerSerializer):
    emails = serializers.ListField(child=serializers.CharField(), help_text="Distinct, sorted.")
    nextCursor = CursorField(
        source="next_after", allow_null=True, help_text="Pass as `cursor`; null on the last page."
    )
    source = SourceField()


class ProfileAttributesOutputSerializer(serializers.Serializer):
    email = serializers.CharField()
    attributes = serializers.JSONField(help_text="camelCase keys, as clients sent them.")
    klaviyoId = serializers.CharField(
        source="klaviyo_id", allow_null=True, help_text="Klaviyo's profile id, when known."
    )
    source = SourceField()


class ProfileMetricItemSerializer(serializers.Serializer):
    metric = serializers.CharField()
    count = serializers.IntegerField()
    firstTime = IsoDateTimeField(source="first_time")
    lastTime = IsoDateTimeField(source="last_time")


class ProfileMetricsOutputSerializer(serializers.Serializer):
    email = serializers.CharField()
    metrics = ProfileMetricItemSerializer(many=True)
    klaviyoId = serializers.CharField(
        source="klaviyo_id", allow_null=True, help_text="Klaviyo's profile id, when known."
    )
    source = SourceField()
