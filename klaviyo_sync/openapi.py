"""The OpenAPI declarations of /klaviyo: one `extend_schema` per action, with its examples."""

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
