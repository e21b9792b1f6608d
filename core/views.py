import hmac
import logging
from typing import Any

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Min
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiExample, extend_schema
from prometheus_client import CONTENT_TYPE_LATEST
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from core.errors import error_response, handler404
from core.metrics import metrics_exposition
from events.models import Event, SyncStatus

logger = logging.getLogger(__name__)
# A health check must answer fast even when Redis is a black hole.
BROKER_TIMEOUT_SECONDS = 2.0


def database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        logger.warning("Health check: database unreachable: %s", error)
        return "down"
    return "ok"


def broker_status() -> str | None:
    """'ok' or 'down' for the Redis broker; None when there is none (tasks run in process)."""
    url = settings.CELERY_BROKER_URL
    if not url:
        return None
    client = redis.Redis.from_url(
        url, socket_connect_timeout=BROKER_TIMEOUT_SECONDS, socket_timeout=BROKER_TIMEOUT_SECONDS
    )
    try:
        client.ping()
    except (redis.RedisError, OSError) as error:
        # The URL may hold a password: only the exception's class is logged.
        logger.warning("Health check: broker unreachable (%s)", type(error).__name__)
        return "down"
    finally:
        client.close()
    return "ok"


NO_BACKLOG: dict[str, Any] = {"oldestPendingEventAgeSeconds": None, "failedEvents": None}


def sync_backlog() -> dict[str, Any]:
    """The oldest pending event's age and the failed count; None values if the query fails."""
    try:
        oldest = Event.objects.filter(sync_status=SyncStatus.PENDING).aggregate(
            oldest=Min("created_at")
        )["oldest"]
        failed = Event.objects.filter(sync_status=SyncStatus.FAILED).count()
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


@csrf_exempt  # no session or form here: other methods get a plain 405
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format. Open when METRICS_TOKEN is empty (scraped inside the network),
    else it needs `Authorization: Bearer <METRICS_TOKEN>`."""
    if request.method not in ("GET", "HEAD"):
        return error_response(
            405, [f'Method "{request.method}" not allowed.'], headers={"Allow": "GET"}
        )
    token = settings.METRICS_TOKEN
    if token:
        sent = request.META.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent.encode(), token.encode()):
            return error_response(
                401, ["Missing or wrong metrics token: send Authorization: Bearer <token>"]
            )
    return HttpResponse(metrics_exposition(), content_type=CONTENT_TYPE_LATEST)


@csrf_exempt
def not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Unknown paths answer in the error shape, in DEBUG too."""
    return handler404(request)
