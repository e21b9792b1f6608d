from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from cleanup import serializers as s
from cleanup.models import PurgeTrigger
from cleanup.selectors import cleanup_stats, purge_run_get, purge_run_running, purge_runs_list
from cleanup.services import (
    PurgeAlreadyRunning,
    PurgeFailed,
    PurgeQueueUnavailable,
    purge_expired_data,
    purge_run_queue,
)
from core.errors import Conflict, ServiceUnavailable
from core.serializers import AUTH_ERRORS, ErrorSerializer

RUN_EXAMPLE = {
    "id": 42,
    "trigger": "manual",
    "outcome": "succeeded",
    "dryRun": False,
    "retentionDays": 7,
    "batchSize": 5000,
    "cutoff": "2025-09-08T10:00:00.000Z",
    "eventsDeleted": 1200,
    "unsyncedEventsDeleted": 3,
    "profilesDeleted": 40,
    "createdAt": "2025-09-15T10:00:00.000Z",
    "startedAt": "2025-09-15T10:00:00.000Z",
    "finishedAt": "2025-09-15T10:00:02.512Z",
    "durationSeconds": 2.512,
    "error": "",
    "summary": (
        "Deleted 1200 events created before 2025-09-08T10:00:00Z (3 not yet sent to Klaviyo) "
        "and 40 profiles left without events."
    ),
}
CONFLICT_EXAMPLE = OpenApiExample(
    "Already running",
    value={
        "statusCode": 409,
        "message": ["Another purge is running (run #41, started 2025-09-15T09:59:00Z)."],
        "error": "Conflict",
    },
    response_only=True,
    status_codes=["409"],
)
RUN_ID = r"(?P<run_id>[0-9]{1,18})"


class CleanupViewSet(viewsets.ViewSet):
    """Retention: what the purge would delete, running it, and the record of past runs."""

    @extend_schema(
        operation_id="cleanup_stats",
        summary="What is stored, what the purge would delete, the last run and the next one",
        responses={200: s.CleanupStatsOutputSerializer, **AUTH_ERRORS},
        examples=[
            OpenApiExample(
                "Stats",
                value={
                    "totalEvents": 15000,
                    "eventsToDelete": 1200,
                    "unsyncedEventsToDelete": 3,
                    "totalProfiles": 800,
                    "orphanedProfiles": 2,
                    "profilesToDelete": 40,
                    "retentionDays": 7,
                    "cutoff": "2025-09-08T10:00:00.000Z",
                    "oldestEventReceivedAt": "2025-09-01T02:00:00.000Z",
                    "newestEventReceivedAt": "2025-09-15T09:59:58.120Z",
                    "eventsBySyncStatus": {"pending": 5, "sent": 14990, "failed": 3, "skipped": 2},
                    "lastRun": RUN_EXAMPLE,
                    "schedule": {
                        "cron": "0 2 * * *",
                        "enabled": True,
                        "nextRunAt": "2025-09-16T02:00:00.000Z",
                    },
                },
                response_only=True,
            )
        ],
    )
    @action(detail=False, methods=["get"])
    def stats(self, request: Request) -> Response:
        return Response(s.CleanupStatsOutputSerializer(cleanup_stats()).data)

    @extend_schema(
        operation_id="cleanup_manual",
        summary="Purge expired data now",
        description=(
            "Deletes the events created more than `days` days ago (default: the retention "
            "setting), then the profiles left without events. Answers 200 when done; with "
            '`"async": true` it queues the purge on the worker and answers 202 with the run to '
            "follow. `dryRun` counts what would go and deletes nothing. One purge at a time: "
            "409 while another runs."
        ),
        request=s.ManualPurgeInputSerializer,
        responses={
            200: s.ManualPurgeOutputSerializer,
            202: s.QueuedPurgeOutputSerializer,
            400: ErrorSerializer,
            409: ErrorSerializer,
            503: ErrorSerializer,
            **AUTH_ERRORS,
        },
        examples=[
            OpenApiExample("Default retention", value={}, request_only=True),
            OpenApiExample(
                "Dry run, 30 days, on the worker",
                value={"days": 30, "dryRun": True, "async": True},
                request_only=True,
            ),
            OpenApiExample(
                "Done",
                value={
                    "deletedEvents": 1200,
                    "deletedProfiles": 40,
                    "dryRun": False,
                    "runId": 42,
                    "summary": RUN_EXAMPLE["summary"],
                    "run": RUN_EXAMPLE,
                },
                response_only=True,
                status_codes=["200"],
            ),
            OpenApiExample(
                "Queued",
                value={"runId": 43, "outcome": "queued", "url": "/cleanup/runs/43"},
                response_only=True,
                status_codes=["202"],
            ),
            OpenApiExample(
                "Bad days",
                value={
                    "statusCode": 400,
                    "message": ["days must be at least 1"],
                    "error": "Bad Request",
                },
                response_only=True,
                status_codes=["400"],
            ),
            CONFLICT_EXAMPLE,
        ],
    )
    @action(detail=False, methods=["post"])
    def manual(self, request: Request) -> Response:
        serializer = s.ManualPurgeInputSerializer(
            data=request.data if request.data is not None else {}
        )
        serializer.is_valid(raise_exception=True)
        options = serializer.validated_data
        if options["run_async"]:
            return self._queue(request, days=options.get("days"), dry_run=options["dry_run"])
        try:
            run = purge_expired_data(
                trigger=PurgeTrigger.MANUAL, days=options.get("days"), dry_run=options["dry_run"]
            )
        except PurgeAlreadyRunning as error:
            raise Conflict(error.run.error) from error
        except PurgeFailed as error:
            raise ServiceUnavailable(
                f"The purge failed (run #{error.run.pk}): {error.run.error}. What was deleted "
                "before the error stays deleted; try again."
            ) from error
        body = {
            "deletedEvents": run.events_deleted,
            "deletedProfiles": run.profiles_deleted,
            "dryRun": run.dry_run,
            "runId": run.pk,
            "summary": run.summary,
            "run": run,
        }
        return Response(s.ManualPurgeOutputSerializer(body).data)

    def _queue(self, request: Request, *, days: int | None, dry_run: bool) -> Response:
        # A friendly early answer; the worker checks the lock again when it starts.
        if running := purge_run_running():
            raise Conflict(f"Another purge is running (run #{running.pk}).")
        try:
            run = purge_run_queue(trigger=PurgeTrigger.MANUAL, days=days, dry_run=dry_run)
        except PurgeQueueUnavailable as error:
            raise ServiceUnavailable(
                f"Could not queue the purge (run #{error.run.pk}): the task broker is unreachable."
            ) from error
        url = f"/cleanup/runs/{run.pk}"
        body = {"runId": run.pk, "outcome": run.outcome, "url": url}
        return Response(
            s.QueuedPurgeOutputSerializer(body).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": request.build_absolute_uri(url)},
        )

    @extend_schema(
        operation_id="cleanup_runs_retrieve",
        summary="One purge run: progress while it runs, outcome when done",
        parameters=[OpenApiParameter("run_id", OpenApiTypes.INT, OpenApiParameter.PATH)],
        responses={200: s.PurgeRunOutputSerializer, 404: ErrorSerializer, **AUTH_ERRORS},
        examples=[OpenApiExample("Run", value=RUN_EXAMPLE, response_only=True)],
    )
    @action(detail=False, methods=["get"], url_path=f"runs/{RUN_ID}", url_name="run")
    def run(self, request: Request, run_id: str) -> Response:
        run = purge_run_get(run_id=int(run_id))
        if run is None:
            raise NotFound(f"Purge run {run_id} does not exist.")
        return Response(s.PurgeRunOutputSerializer(run).data)

    @extend_schema(
        operation_id="cleanup_runs_list",
        summary="The latest purge runs, newest first",
        parameters=[s.PurgeRunListInputSerializer],
        responses={200: s.PurgeRunListOutputSerializer, 400: ErrorSerializer, **AUTH_ERRORS},
        examples=[OpenApiExample("Runs", value={"runs": [RUN_EXAMPLE]}, response_only=True)],
    )
    @action(detail=False, methods=["get"])
    def runs(self, request: Request) -> Response:
        params = s.PurgeRunListInputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        runs = purge_runs_list(limit=params.validated_data["limit"])
        return Response(s.PurgeRunListOutputSerializer({"runs": runs}).data)
