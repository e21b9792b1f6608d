"""The OpenAPI declarations of /events: one `extend_schema` per action, with its examples."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema

from core.openapi import AUTH_ERRORS, error_example
from core.serializers import ErrorSerializer
from events import read_serializers as rs
from events import serializers as s

PURCHASE_EXAMPLE = {
    "eventName": "Purchase",
    "eventAttributes": {"amount": 99.99, "currency": "USD"},
    "profileAttributes": {"firstName": "John", "lastName": "Doe"},
    "email": "john.doe@example.com",
}
EVENT_RESPONSE_EXAMPLE = {
    "id": "8f7b6c1e-2b1a-4c55-9a57-3f0f3f4b9a10",
    **PURCHASE_EXAMPLE,
    "time": "2025-09-15T10:00:00.000Z",
    "value": None,
    "valueCurrency": None,
    "uniqueId": None,
    "sentToKlaviyo": False,
    "syncStatus": "pending",
    "attempts": 0,
    "lastError": "",
    "klaviyoResponse": None,
    "syncedAt": None,
    "createdAt": "2025-09-15T10:00:00.000Z",
}
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

event_create = extend_schema(
    operation_id="events_create",
    summary="Store one event",
    description=(
        "Stores the event and upserts its profile, then queues it for Klaviyo. An event with "
        "the profile, `eventName` and `uniqueId` of a stored one (Klaviyo's idempotency) "
        "answers 200 with the first event and stores nothing. A property the body does not "
        "declare is refused: `property unique_id should not exist`."
    ),
    request=s.EventInputSerializer,
    responses={
        201: s.EventOutputSerializer,
        200: s.EventOutputSerializer,
        400: ErrorSerializer,
        413: ErrorSerializer,
        **AUTH_ERRORS,
    },
    examples=[
        OpenApiExample("Purchase", value=PURCHASE_EXAMPLE, request_only=True),
        OpenApiExample(
            "Stored", value=EVENT_RESPONSE_EXAMPLE, response_only=True, status_codes=["201"]
        ),
        error_example("Invalid email", 400, "email must be a valid email"),
        error_example("Unknown property", 400, "property unique_id should not exist"),
    ],
)

events_bulk_create = extend_schema(
    operation_id="events_bulk_create",
    summary="Store up to 1,000 events at once",
    description=(
        "All or nothing: when any item is invalid, the 400 names each bad item by index "
        "(`events.3.email ...`) and nothing is stored."
    ),
    request=s.BulkEventsInputSerializer,
    responses={
        201: s.BulkEventsOutputSerializer,
        400: ErrorSerializer,
        413: ErrorSerializer,
        **AUTH_ERRORS,
    },
    examples=[
        OpenApiExample(
            "Two events",
            value={
                "events": [
                    {"eventName": "Page View", "email": "user1@test.com"},
                    {"eventName": "Add to Cart", "email": "user2@test.com", "uniqueId": "c-42"},
                ]
            },
            request_only=True,
        ),
        OpenApiExample(
            "Stored",
            value={
                "count": 2,
                "created": 2,
                "events": [
                    {
                        "id": "1c7a3c9e-7f0e-4a8e-9a55-4e5f4c1d2b3a",
                        "uniqueId": None,
                        "syncStatus": "pending",
                        "duplicate": False,
                    },
                    {
                        "id": "5d2b7c1e-0a9f-4b3c-8d7e-6f5a4b3c2d1e",
                        "uniqueId": "c-42",
                        "syncStatus": "pending",
                        "duplicate": False,
                    },
                ],
            },
            response_only=True,
            status_codes=["201"],
        ),
        error_example("Bad item", 400, "events.1.email must be a valid email"),
    ],
)

events_metrics = extend_schema(
    operation_id="events_metrics",
    summary="Every metric known, with Klaviyo's id and a local count",
    description=READS_DESCRIPTION,
    responses={200: rs.MetricsOutputSerializer, **AUTH_ERRORS},
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
    parameters=[rs.DayQuerySerializer],
    responses={200: rs.CountOutputSerializer, 400: ErrorSerializer, **AUTH_ERRORS},
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
    parameters=[rs.EmailsQuerySerializer],
    responses={200: rs.EmailsOutputSerializer, 400: ErrorSerializer, **AUTH_ERRORS},
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
    responses={200: rs.ProfileAttributesOutputSerializer, **PROFILE_READ_RESPONSES},
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
    responses={200: rs.ProfileMetricsOutputSerializer, **PROFILE_READ_RESPONSES},
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
