"""The OpenAPI declarations of /cleanup: one `extend_schema` per action, with its examples."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema

from cleanup import serializers as s
from core.openapi import AUTH_ERRORS, error_example
from core.serializers import ErrorSerializer

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
CONFLICT_EXAMPLE = error_example(
    "Already running", 409, "Another purge is running (run #41, started 2025-09-15T09:59:00Z)."
)

cleanup_stats = extend_schema(
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

cleanup_manual = extend_schema(
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
        error_example("Bad days", 400, "days must be at least 1"),
        CONFLICT_EXAMPLE,
    ],
)

cleanup_runs_retrieve = extend_schema(
    operation_id="cleanup_runs_retrieve",
    summary="One purge run: progress while it runs, outcome when done",
    parameters=[OpenApiParameter("run_id", OpenApiTypes.INT, OpenApiParameter.PATH)],
    responses={200: s.PurgeRunOutputSerializer, 404: ErrorSerializer, **AUTH_ERRORS},
    examples=[OpenApiExample("Run", value=RUN_EXAMPLE, response_only=True)],
)

cleanup_runs_list = extend_schema(
    operation_id="cleanup_runs_list",
    summary="The latest purge runs, newest first",
    parameters=[s.PurgeRunListInputSerializer],
    responses={200: s.PurgeRunListOutputSerializer, 400: ErrorSerializer, **AUTH_ERRORS},
    examples=[OpenApiExample("Runs", value={"runs": [RUN_EXAMPLE]}, response_only=True)],
)
