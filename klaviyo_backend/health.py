"""GET /health: liveness and dependencies (database, broker) with the sync's backlog and the
workers' heartbeats. At the top of the layers because it reads from core (the checks) and
events (the backlog).

`ok`; `degraded` (200: it works, not as it should, `reasons` say why) when the oldest pending
event is older than HEALTH_PENDING_MAX_AGE_SECONDS or no worker has been seen for
HEALTH_WORKER_SILENT_SECONDS; `down` (503) only when the database or the broker is unreachable.
"""

import contextlib
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

from core.health import broker_status, database_status, worker_silence
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


def degraded_reasons(*, oldest_pending: float | None, silence: float | None) -> list[str]:
    """Why the service works but not as it should: events waiting too long, no worker."""
    reasons = []
    threshold = settings.HEALTH_PENDING_MAX_AGE_SECONDS
    if oldest_pending is not None and oldest_pending > threshold:
        reasons.append(
            f"the oldest pending event is {oldest_pending:.0f} s old "
            f"(HEALTH_PENDING_MAX_AGE_SECONDS={threshold})"
        )
    silent = settings.HEALTH_WORKER_SILENT_SECONDS
    if silence is not None and silence > silent:
        seen = (
            "no worker was ever seen"
            if silence == float("inf")
            else f"no worker seen for {silence:.0f} s"
        )
        reasons.append(f"{seen} (HEALTH_WORKER_SILENT_SECONDS={silent}): nothing is sent")
    return reasons


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["ok", "degraded", "down"],
        help_text="ok; degraded (200: it works, not as it should, see reasons); "
        "down (503: the database or the broker is unreachable).",
    )
    reasons = serializers.ListField(
        child=serializers.CharField(), help_text="Why the status is not ok; empty when it is."
    )
    database = serializers.CharField(help_text="ok or down")
    broker = serializers.CharField(
        allow_null=True,
        help_text="Redis, or the embedded broker's folder: ok or down; null when none is "
        "configured.",
    )
    workerLastSeenSeconds = serializers.FloatField(
        allow_null=True,
        help_text="Seconds since a Celery worker last recorded its heartbeat (null: tasks run "
        "in process, or no worker ever ran).",
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
        description=(
            "503 (`down`) when the database or the broker is unreachable; 200 `degraded` with "
            "`reasons` when the oldest pending event is older than HEALTH_PENDING_MAX_AGE_SECONDS "
            "or no worker has been seen for HEALTH_WORKER_SILENT_SECONDS. Never shows a secret."
        ),
        auth=[],
        responses={200: HealthSerializer, 503: HealthSerializer},
        examples=[
            OpenApiExample(
                "Healthy",
                value={
                    "status": "ok",
                    "reasons": [],
                    "database": "ok",
                    "broker": "ok",
                    "workerLastSeenSeconds": 4.2,
                    "klaviyoApiKey": True,
                    "oldestPendingEventAgeSeconds": 1.52,
                    "failedEvents": 0,
                },
                response_only=True,
                status_codes=["200"],
            ),
            OpenApiExample(
                "No worker",
                value={
                    "status": "degraded",
                    "reasons": [
                        "no worker seen for 312 s (HEALTH_WORKER_SILENT_SECONDS=60): "
                        "nothing is sent"
                    ],
                    "database": "ok",
                    "broker": "ok",
                    "workerLastSeenSeconds": 312.0,
                    "klaviyoApiKey": True,
                    "oldestPendingEventAgeSeconds": 305.1,
                    "failedEvents": 0,
                },
                response_only=True,
                status_codes=["200"],
            ),
        ],
    )
    def get(self, request: Request) -> Response:
        database = database_status()
        broker = broker_status()
        down = [
            name for name, state in (("database", database), ("broker", broker)) if state == "down"
        ]
        backlog = sync_backlog() if database == "ok" else NO_BACKLOG
        silence = None
        if database == "ok":
            with contextlib.suppress(DatabaseError):
                silence = worker_silence()
        reasons = [f"the {name} is unreachable" for name in down] + degraded_reasons(
            oldest_pending=backlog["oldestPendingEventAgeSeconds"], silence=silence
        )
        body = {
            "status": "down" if down else "degraded" if reasons else "ok",
            "reasons": reasons,
            "database": database,
            "broker": broker,
            "workerLastSeenSeconds": None if silence in (None, float("inf")) else silence,
            "klaviyoApiKey": bool(settings.KLAVIYO_API_KEY),
            **backlog,
        }
        return Response(HealthSerializer(body).data, status=503 if down else 200)
