"""The OpenAPI declarations of /klaviyo and of the questions about events (/events/metrics,
count, emails, profiles/...): one `extend_schema` per action, with its examples."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema

from core.openapi import AUTH_ERRORS, error_example
from core.serializers import ErrorSerializer
from klaviyo_sync import serializers as s

UPSTREAM_ERRORS = {502: ErrorSerializer, 503: ErrorSerializer, **AUTH_ERRORS}
BAD_GATEWAY_EXAMPLE = error_example(
    "Klaviyo failed", 502, "Klaviyo failed: HTTP 503: Service Unavailable"
)
NO_KEY_EXAMPLE = error_example("No key", 503, "KLAVIYO_API_KEY is not configured")

klaviyo_test_connection = extend_schema(
    operation_id="klaviyo_test_connection",
    summary="Check that Klaviyo accepts the configured key",
    description="Always 200: `connected` is false when no key is set or Klaviyo refuses.",
    responses={200: s.ConnectionCheckSerializer, **AUTH_ERRORS},
    examples=[
        OpenApiExample(
            "Connected",
            value={
                "connected": True,
                "message": "Connected to Klaviyo (account Acme)",
                "revision": "2026-07-15",
                "latencyMs": 182.4,
            },
            response_only=True,
        )
    ],
)

klaviyo_metrics = extend_schema(
    operation_id="klaviyo_metrics",
    summary="Klaviyo's metrics",
    responses={200: s.KlaviyoMetricsSerializer, **UPSTREAM_ERRORS},
    examples=[
        OpenApiExample(
            "Metrics",
            value={
                "metrics": [
                    {
                        "id": "UxxK4u",
                        "name": "Purchase",
                        "created": "2025-09-15T10:00:00+00:00",
                        "updated": "2025-09-15T10:00:00+00:00",
                        "integration": {"name": "API", "category": "API"},
                    }
                ]
            },
            response_only=True,
        ),
        BAD_GATEWAY_EXAMPLE,
        NO_KEY_EXAMPLE,
    ],
)

klaviyo_profile = extend_schema(
    operation_id="klaviyo_profile",
    summary="Klaviyo's profile for an email",
    parameters=[OpenApiParameter("email", str, OpenApiParameter.PATH)],
    responses={
        200: s.KlaviyoProfileSerializer,
        400: ErrorSerializer,
        404: ErrorSerializer,
        **UPSTREAM_ERRORS,
    },
    examples=[
        OpenApiExample(
            "Profile",
            value={
                "id": "01J8Z5Q0000000000000000000",
                "email": "john.doe@example.com",
                "firstName": "John",
                "lastName": "Doe",
                "location": {"city": "Paris"},
                "properties": {"plan": "pro"},
            },
            response_only=True,
        ),
        BAD_GATEWAY_EXAMPLE,
        NO_KEY_EXAMPLE,
    ],
)

klaviyo_events = extend_schema(
    operation_id="klaviyo_events",
    summary="Klaviyo's events, newest first",
    description="Filters: `metric` (event name), `email`, `since` (inclusive), `until` "
    "(exclusive). Follow `nextCursor` with `cursor` for the next page.",
    parameters=[s.KlaviyoEventsQuerySerializer],
    responses={200: s.KlaviyoEventsPageSerializer, 400: ErrorSerializer, **UPSTREAM_ERRORS},
    examples=[
        OpenApiExample(
            "Events",
            value={
                "events": [
                    {
                        "id": "4vRpBT2kYyA",
                        "metricId": "UxxK4u",
                        "profileId": "01J8Z5Q0000000000000000000",
                        "email": "john.doe@example.com",
                        "datetime": "2025-09-15T10:00:00+00:00",
                        "timestamp": 1757930400,
                        "uuid": "b8a3c9e0-9211-11f0-8000-0242ac120002",
                        "properties": {"amount": 99.99},
                    }
                ],
                "nextCursor": "bmV4dA",
            },
            response_only=True,
        ),
        BAD_GATEWAY_EXAMPLE,
        NO_KEY_EXAMPLE,
    ],
)

klaviyo_lists = extend_schema(
    operation_id="klaviyo_lists",
    summary="Klaviyo's lists",
    description="The account's lists (their ids are what `/lists/{listId}/profiles` takes), "
    "10 a page at most (Klaviyo's page). `name` keeps the lists of exactly that name. Follow "
    "`nextCursor` with `cursor` for the next page.",
    parameters=[s.KlaviyoListsQuerySerializer],
    responses={200: s.KlaviyoListsPageSerializer, 400: ErrorSerializer, **UPSTREAM_ERRORS},
    examples=[
        OpenApiExample(
            "Lists",
            value={
                "lists": [
                    {
                        "id": "Y6nRLr",
                        "name": "Newsletter",
                        "created": "2025-09-15T10:00:00+00:00",
                        "updated": "2025-09-15T10:00:00+00:00",
                        "optInProcess": "double_opt_in",
                    }
                ],
                "nextCursor": "bmV4dA",
            },
            response_only=True,
        ),
        BAD_GATEWAY_EXAMPLE,
        NO_KEY_EXAMPLE,
    ],
)

klaviyo_sync_test = extend_schema(
    operation_id="klaviyo_sync_test",
    summary="Send one test event to Klaviyo",
    description="Through the same client and mapping as the pipeline; nothing is stored. "
    "200 with Klaviyo's answer (`sent` false when it refused), 503 without a key.",
    request=s.SyncTestInputSerializer,
    responses={
        200: s.SyncTestOutputSerializer,
        400: ErrorSerializer,
        503: ErrorSerializer,
        **AUTH_ERRORS,
    },
    examples=[
        OpenApiExample("Test event", value={"email": "me@example.com"}, request_only=True),
        OpenApiExample(
            "Sent",
            value={
                "sent": True,
                "status": 202,
                "message": "Successfully sent to Klaviyo (HTTP 202)",
                "latencyMs": 143.2,
                "uniqueId": "sync-test-0b7f2c9e-0f7e-4d5c-9a1e-2b8c3d4e5f60",
                "email": "me@example.com",
                "eventName": "Klaviyo Sync Test",
                "sentAt": "2025-09-15T10:00:00.000Z",
            },
            response_only=True,
        ),
        NO_KEY_EXAMPLE,
    ],
)


# --- The questions about events (GET /events/metrics, count, emails, profiles/...) -------------

READS_DESCRIPTION = (
    "Asks Klaviyo first, within READS_KLAVIYO_BUDGET_SECONDS, and answers from the local "
    "database when there is no Klaviyo key or Klaviyo fails, rate-limits or is too slow; "
    "`source` says which. Klaviyo counts the events that reached it; the local database counts "
    "every stored event (pending ones too) within the retention period."
)
DATE_ERROR_EXAMPLE = error_example("Bad date", 400, "date must be a date in YYYY-MM-DD format")
PROFILE_NOT_FOUND_EXAMPLE = error_example(
    "Unknown profile", 404, "Profile nobody@example.com not found"
)
EMAIL_PATH_PARAMETER = OpenApiParameter(
    "email", str, OpenApiParameter.PATH, description="The profile's email (case-insensitive)."
)

events_metrics = extend_schema(
    operation_id="events_metrics",
    summary="Every metric known, with Klaviyo's id and a local count",
    description=READS_DESCRIPTION,
    responses={200: s.MetricsOutputSerializer, **AUTH_ERRORS},
    examples=[
        OpenApiExample(
            "Metrics",
            value={
                "metrics": [{"name": "Purchase", "klaviyoId": "RsWdcU", "localCount": 1520}],
                "source": "klaviyo",
            },
            response_only=True,
        )
    ],
)

events_count = extend_schema(
    operation_id="events_count",
    summary="How many events of a metric happened on a day",
    description=READS_DESCRIPTION,
    parameters=[s.DayQuerySerializer],
    responses={200: s.CountOutputSerializer, 400: ErrorSerializer, **AUTH_ERRORS},
    examples=[
        OpenApiExample(
            "Count",
            value={
                "metric": "Purchase",
                "date": "2025-09-15",
                "count": 42,
                "timezone": "America/New_York",
                "start": "2025-09-15T04:00:00.000Z",
                "end": "2025-09-16T04:00:00.000Z",
                "klaviyoMetricId": "RsWdcU",
                "source": "klaviyo",
            },
            response_only=True,
            status_codes=["200"],
        ),
        DATE_ERROR_EXAMPLE,
    ],
)

events_emails = extend_schema(
    operation_id="events_emails",
    summary="The distinct emails that did a metric on a day",
    description=(
        READS_DESCRIPTION + " Sorted by code point; pass `nextCursor` as `cursor` for the "
        "next page."
    ),
    parameters=[s.EmailsQuerySerializer],
    responses={200: s.EmailsOutputSerializer, 400: ErrorSerializer, **AUTH_ERRORS},
    examples=[
        OpenApiExample(
            "Emails",
            value={
                "metric": "Purchase",
                "date": "2025-09-15",
                "emails": ["ann@example.com", "bob@example.com"],
                "nextCursor": "Ym9iQGV4YW1wbGUuY29t",
                "timezone": "UTC",
                "start": "2025-09-15T00:00:00.000Z",
                "end": "2025-09-16T00:00:00.000Z",
                "klaviyoMetricId": "RsWdcU",
                "source": "local",
            },
            response_only=True,
            status_codes=["200"],
        ),
        DATE_ERROR_EXAMPLE,
    ],
)

PROFILE_READ_RESPONSES = {400: ErrorSerializer, 404: ErrorSerializer, **AUTH_ERRORS}

events_profile_attributes = extend_schema(
    operation_id="events_profile_attributes",
    summary="A profile's attributes",
    description=READS_DESCRIPTION + " The email is case-insensitive.",
    parameters=[EMAIL_PATH_PARAMETER],
    responses={200: s.ProfileAttributesOutputSerializer, **PROFILE_READ_RESPONSES},
    examples=[
        OpenApiExample(
            "Attributes",
            value={
                "email": "john.doe@example.com",
                "attributes": {"firstName": "John", "lastName": "Doe", "plan": "pro"},
                "klaviyoId": "01JD8W3Q6N5ZK2Y7R4T9V0X1AB",
                "source": "klaviyo",
            },
            response_only=True,
            status_codes=["200"],
        ),
        PROFILE_NOT_FOUND_EXAMPLE,
    ],
)

events_profile_metrics = extend_schema(
    operation_id="events_profile_metrics",
    summary="The metrics a profile did: count, first and last time",
    description=READS_DESCRIPTION + " The email is case-insensitive.",
    parameters=[EMAIL_PATH_PARAMETER],
    responses={200: s.ProfileMetricsOutputSerializer, **PROFILE_READ_RESPONSES},
    examples=[
        OpenApiExample(
            "Metrics",
            value={
                "email": "john.doe@example.com",
                "metrics": [
                    {
                        "metric": "Purchase",
                        "count": 3,
                        "firstTime": "2025-09-01T10:00:00.000Z",
                        "lastTime": "2025-09-15T10:00:00.000Z",
                    }
                ],
                "klaviyoId": None,
                "source": "local",
            },
            response_only=True,
            status_codes=["200"],
        ),
        PROFILE_NOT_FOUND_EXAMPLE,
    ],
)
