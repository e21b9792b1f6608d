"""/klaviyo: the connection check, Klaviyo's own data (metrics, a profile, events) and a test
send. Klaviyo failing answers 502, no key configured 503, both in the error shape."""

from collections.abc import Callable
from typing import Any, TypeVar

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from core.errors import BadGateway, ServiceUnavailable
from core.serializers import AUTH_ERRORS, ErrorSerializer
from klaviyo_sync import serializers as s
from klaviyo_sync.client import KlaviyoError, KlaviyoNotConfigured
from klaviyo_sync.selectors import (
    klaviyo_connection_check,
    klaviyo_events_page,
    klaviyo_metrics_list,
    klaviyo_profile_get,
)
from klaviyo_sync.services import klaviyo_sync_test

T = TypeVar("T")

UPSTREAM_ERRORS = {502: ErrorSerializer, 503: ErrorSerializer, **AUTH_ERRORS}
BAD_GATEWAY_EXAMPLE = OpenApiExample(
    "Klaviyo failed",
    value={
        "statusCode": 502,
        "message": ["Klaviyo failed: HTTP 503: Service Unavailable"],
        "error": "Bad Gateway",
    },
    response_only=True,
    status_codes=["502"],
)
NO_KEY_EXAMPLE = OpenApiExample(
    "No key",
    value={
        "statusCode": 503,
        "message": ["KLAVIYO_API_KEY is not configured"],
        "error": "Service Unavailable",
    },
    response_only=True,
    status_codes=["503"],
)


def from_klaviyo(read: Callable[[], T]) -> T:
    try:
        return read()
    except KlaviyoNotConfigured as error:
        raise ServiceUnavailable(str(error)) from None
    except KlaviyoError as error:
        if error.status == 400 and _refused_parameter(error) == "page[cursor]":
            # The cursor is the one value passed to Klaviyo as the client sent it: its fault.
            raise ValidationError(
                {"cursor": "must be the nextCursor of a previous answer"}
            ) from None
        raise BadGateway(f"Klaviyo failed: {error.summary}") from None


def _refused_parameter(error: KlaviyoError) -> str | None:
    sources = [item.get("source") or {} for item in error.errors if isinstance(item, dict)]
    return next((src.get("parameter") for src in sources if src.get("parameter")), None)


class KlaviyoViewSet(viewsets.ViewSet):
    """Klaviyo itself, through the service's key: diagnostics and Klaviyo's copy of the data."""

    @extend_schema(
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
    @action(detail=False, methods=["get"], url_path="test-connection")
    def test_connection(self, request: Request) -> Response:
        return Response(s.ConnectionCheckSerializer(klaviyo_connection_check()).data)

    @extend_schema(
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
    @action(detail=False, methods=["get"])
    def metrics(self, request: Request) -> Response:
        metrics = from_klaviyo(klaviyo_metrics_list)
        return Response(s.KlaviyoMetricsSerializer({"metrics": metrics}).data)

    @extend_schema(
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
    @action(detail=False, methods=["get"], url_path=r"profiles/(?P<email>[^/]+)")
    def profile(self, request: Request, email: str) -> Response:
        lookup = s.ProfileLookupSerializer(data={"email": email})
        lookup.is_valid(raise_exception=True)
        address = lookup.validated_data["email"]
        profile = from_klaviyo(lambda: klaviyo_profile_get(email=address))
        if profile is None:
            raise NotFound(f"Klaviyo has no profile with email {address}")
        return Response(s.KlaviyoProfileSerializer(profile).data)

    @extend_schema(
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
    @action(detail=False, methods=["get"])
    def events(self, request: Request) -> Response:
        query = s.KlaviyoEventsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params: dict[str, Any] = query.validated_data
        events, next_cursor = from_klaviyo(
            lambda: klaviyo_events_page(
                metric=params.get("metric"),
                email=params.get("email"),
                since=params.get("since"),
                until=params.get("until"),
                cursor=params.get("cursor"),
                page_size=params["page_size"],
            )
        )
        page = {"events": events, "next_cursor": next_cursor}
        return Response(s.KlaviyoEventsPageSerializer(page).data)

    @extend_schema(
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
    @action(detail=False, methods=["post"], url_path="sync-test")
    def sync_test(self, request: Request) -> Response:
        body = s.SyncTestInputSerializer(data=request.data or {})
        body.is_valid(raise_exception=True)
        email, event_name = body.validated_data["email"], body.validated_data["event_name"]
        sent_at = timezone.now()
        result = from_klaviyo(lambda: klaviyo_sync_test(email=email, event_name=event_name))
        answer = {**result.__dict__, "email": email, "event_name": event_name, "sent_at": sent_at}
        return Response(s.SyncTestOutputSerializer(answer).data)
