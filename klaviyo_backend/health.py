"""GET /health: liveness and dependencies (database, broker) with the sync's backlog. At the top
of the layers because it reads from core (the checks) and events (the backlog)."""

from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from core.health import broker_status, database_status
from events.selectors import event_failed_count, event_pending_oldest_created_at

NO_BACKLOG: dict[str, Any] = {"oldestPendingEventAgeSeconds": None, "failedEvents": None}


def sync_backlog() -> dict[str, Any]:
    """The oldest pending event's age and the failed count; None values if the query fails."""
    try:
        oldest = event_pending_oldest_created_at()
        failed = event_failed_count()
    except DatabaseError:
        return NO_BACKLOG
    age = round((timezone.now() - oldest).total_seconds(), 3) if oldest else None
    return {"oldestPendingEventAgeSeconds": age, "failedEvents": failed}


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded"])
    database = serializers.CharField(help_text="ok or down")
    broker = serializers.CharField(
        allow_null=True,
        help_text="Redis broker: ok or down; null when none is configured (tasks run in process).",
    )
    klaviyoApiKey = serializers.BooleanField(help_text="Whether a Klaviyo key is configured.")
    oldestPendingEventAgeSeconds = serializers.FloatField(
        allow_null=True, help_text="Age of the oldest event not yet sent; null when none is."
    )
    failedEvents = serializers.IntegerField(
        allow_null=True, help_text="Events Klaviyo refused for good (null: database down)."
    )


class HealthView(APIView):
    """Liveness and dependencies; open to the orchestrator without a key."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    throttle_classes: list[type[BaseThrottle]] = []

    @extend_schema(
        operation_id="health",
        summary="Service health",
        description="503 when the database or the broker is down; never shows a secret.",
        auth=[],
        responses={200: HealthSerializer, 503: HealthSerializer},
        examples=[
            OpenApiExample(
                "Healthy",
                value={
                    "status": "ok",
                    "database": "ok",
                    "broker": "ok",
                    "klaviyoApiKey": True,
                    "oldestPendingEventAgeSeconds": 1.52,
                    "failedEvents": 0,
                },
                response_only=True,
                status_codes=["200"],
            )
        ],
    )
    def get(self, request: Request) -> Response:
        database = database_status()
        broker = broker_status()
        healthy = database == "ok" and broker != "down"
        body = {
            "status": "ok" if healthy else "degraded",
            "database": database,
            "broker": broker,
            "klaviyoApiKey": bool(settings.KLAVIYO_API_KEY),
            **(sync_backlog() if database == "ok" else NO_BACKLOG),
        }
        return Response(HealthSerializer(body).data, status=200 if healthy else 503)
