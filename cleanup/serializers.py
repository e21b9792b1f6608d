"""Input and output serializers of the cleanup API (camelCase on the wire)."""

from typing import Any

from rest_framework import serializers

from cleanup.services import MAX_DAYS
from core.serializers import IsoDateTimeField
from core.strict_input import QueryInputSerializer, StrictInputSerializer
from events.models import SyncStatus


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: not a string, a float or a boolean that would read as one."""

    default_error_messages = {"invalid": "must be an integer"}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON boolean: not "yes", 1 or "false", which a typo could turn into a real purge."""

    default_error_messages = {"invalid": "must be a boolean"}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class ManualPurgeInputSerializer(StrictInputSerializer):
    days = StrictIntegerField(
        required=False,
        min_value=1,
        max_value=MAX_DAYS,
        error_messages={
            "min_value": "must be at least 1",
            "max_value": f"must be at most {MAX_DAYS}",
        },
        help_text="Delete what is older than this many days. Default: DATA_RETENTION_DAYS.",
    )
    dryRun = StrictBooleanField(
        source="dry_run",
        required=False,
        default=False,
        help_text="Count what would be deleted; delete nothing.",
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # `async` is a Python keyword, so it can't be declared as a class attribute.
        fields["async"] = StrictBooleanField(
            source="run_async",
            required=False,
            default=False,
            help_text="Queue the purge on the worker and answer 202 at once.",
        )
        return fields

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["body must be an object"]})
        return super().to_internal_value(data)


class PurgeRunOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    trigger = serializers.CharField(help_text="beat, manual or command")
    outcome = serializers.CharField(help_text="queued, running, succeeded, failed or skipped")
    dryRun = serializers.BooleanField(source="dry_run")
    retentionDays = serializers.IntegerField(source="retention_days")
    batchSize = serializers.IntegerField(source="batch_size")
    cutoff = IsoDateTimeField(allow_null=True, help_text="Events created before this instant go.")
    eventsDeleted = serializers.IntegerField(
        source="events_deleted", help_text="In a dry run: the events that would be deleted."
    )
    unsyncedEventsDeleted = serializers.IntegerField(
        source="unsynced_events_deleted",
        help_text="Of those, the ones not yet sent to Klaviyo.",
    )
    profilesDeleted = serializers.IntegerField(source="profiles_deleted")
    createdAt = IsoDateTimeField(source="created_at")
    startedAt = IsoDateTimeField(source="started_at", allow_null=True)
    finishedAt = IsoDateTimeField(source="finished_at", allow_null=True)
    durationSeconds = serializers.FloatField(source="duration_seconds", allow_null=True)
    error = serializers.CharField()
    summary = serializers.CharField()


class ManualPurgeOutputSerializer(serializers.Serializer):
    """The old service's `deletedEvents` and `deletedProfiles`, with the run beside them."""

    deletedEvents = serializers.IntegerField(
        help_text="In a dry run: the events that would be deleted."
    )
    deletedProfiles = serializers.IntegerField()
    dryRun = serializers.BooleanField()
    runId = serializers.IntegerField()
    summary = serializers.CharField()
    run = PurgeRunOutputSerializer()


class QueuedPurgeOutputSerializer(serializers.Serializer):
    runId = serializers.IntegerField()
    outcome = serializers.CharField()
    url = serializers.CharField(help_text="Follow the run here: GET /cleanup/runs/{id}.")


class PurgeRunListOutputSerializer(serializers.Serializer):
    runs = PurgeRunOutputSerializer(many=True)


class PurgeRunListInputSerializer(QueryInputSerializer):
    limit = serializers.IntegerField(
        required=False,
        default=20,
        min_value=1,
        max_value=100,
        error_messages={
            "invalid": "must be an integer",
            "min_value": "must be at least 1",
            "max_value": "must be at most 100",
        },
    )


class EventsBySyncStatusSerializer(serializers.Serializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        # Follows the model's statuses, should one be added.
        return {status: serializers.IntegerField() for status in SyncStatus.values}


class PurgeScheduleSerializer(serializers.Serializer):
    cron = serializers.CharField(allow_null=True, help_text="Five crontab fields, UTC.")
    enabled = serializers.BooleanField()
    nextRunAt = IsoDateTimeField(source="next_run_at", allow_null=True)


class CleanupStatsOutputSerializer(serializers.Serializer):
    totalEvents = serializers.IntegerField(source="total_events")
    eventsToDelete = serializers.IntegerField(source="events_to_delete")
    unsyncedEventsToDelete = serializers.IntegerField(
        source="unsynced_events_to_delete",
        help_text="Of the events to delete, those not yet sent to Klaviyo.",
    )
    totalProfiles = serializers.IntegerField(source="total_profiles")
    orphanedProfiles = serializers.IntegerField(
        source="orphaned_profiles", help_text="Profiles with no events at all."
    )
    profilesToDelete = serializers.IntegerField(
        source="profiles_to_delete",
        help_text=(
            "Profiles the next purge deletes: untouched since the cutoff and left without events."
        ),
    )
    retentionDays = serializers.IntegerField(source="retention_days")
    cutoff = IsoDateTimeField()
    oldestEventReceivedAt = IsoDateTimeField(source="oldest_event_received_at", allow_null=True)
    newestEventReceivedAt = IsoDateTimeField(source="newest_event_received_at", allow_null=True)
    eventsBySyncStatus = EventsBySyncStatusSerializer(source="events_by_sync_status")
    lastRun = PurgeRunOutputSerializer(source="last_run", allow_null=True)
    schedule = PurgeScheduleSerializer()
