"""/cleanup: retention stats, the purge and its runs. OpenAPI declarations: cleanup/openapi.py."""

from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from cleanup import openapi
from cleanup import serializers as s
from cleanup.models import PurgeTrigger
from cleanup.selectors import cleanup_stats, purge_run_get, purge_run_running, purge_runs_list
from cleanup.services import (
    PurgeAlreadyRunning,
    PurgeFailed,
    PurgeQueueUnavailable,
    purge_expired_data,
)
from cleanup.tasks import purge_run_queue
from core.errors import Conflict, ServiceUnavailable

RUN_ID = r"(?P<run_id>[0-9]{1,18})"


class CleanupViewSet(viewsets.ViewSet):
    """Retention: what the purge would delete, running it, and the record of past runs."""

    @openapi.cleanup_stats
    @action(detail=False, methods=["get"])
    def stats(self, request: Request) -> Response:
        return Response(s.CleanupStatsOutputSerializer(cleanup_stats()).data)

    @openapi.cleanup_manual
    @action(detail=False, methods=["post"])
    def manual(self, request: Request) -> Response:
        serializer = s.ManualPurgeInputSerializer(data=request.data)
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

    @openapi.cleanup_runs_retrieve
    @action(detail=False, methods=["get"], url_path=f"runs/{RUN_ID}", url_name="run")
    def run(self, request: Request, run_id: str) -> Response:
        run = purge_run_get(run_id=int(run_id))
        if run is None:
            raise NotFound(f"Purge run {run_id} does not exist.")
        return Response(s.PurgeRunOutputSerializer(run).data)

    @openapi.cleanup_runs_list
    @action(detail=False, methods=["get"])
    def runs(self, request: Request) -> Response:
        params = s.PurgeRunListInputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        runs = purge_runs_list(limit=params.validated_data["limit"])
        return Response(s.PurgeRunListOutputSerializer({"runs": runs}).data)
