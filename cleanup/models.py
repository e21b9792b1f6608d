from django.db import models
from django.utils import timezone

# The value of `PurgeRun.running_lock` while a run holds the lock. The column is unique, so at
# most one row can hold it: the database, not a prior read, decides who runs.
PURGE_LOCK = "purge"


class PurgeTrigger(models.TextChoices):
    BEAT = "beat", "Daily schedule (celery-beat)"
    MANUAL = "manual", "API (POST /cleanup/manual)"
    COMMAND = "command", "manage.py purge_old_data"


class PurgeOutcome(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped (another purge was running)"


class PurgeRun(models.Model):
    """One purge of expired data (or one attempt at it): the audit trail of the retention policy.

    Counts are written after every batch, so a running purge shows its progress. In a dry run
    they are what the purge would delete.
    """

    trigger = models.CharField(max_length=16, choices=PurgeTrigger.choices)
    retention_days = models.PositiveIntegerField()
    dry_run = models.BooleanField(default=False)
    batch_size = models.PositiveIntegerField()
    # Events created before this instant go; set when the run starts.
    cutoff = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(
        max_length=16, choices=PurgeOutcome.choices, default=PurgeOutcome.QUEUED
    )
    events_deleted = models.PositiveBigIntegerField(default=0)
    # Deleted before they reached Klaviyo (sync status other than `sent`).
    unsynced_events_deleted = models.PositiveBigIntegerField(default=0)
    profiles_deleted = models.PositiveBigIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    # PURGE_LOCK while this run holds the lock, else NULL (NULLs never collide in a unique index).
    running_lock = models.CharField(max_length=16, null=True, blank=True, unique=True)
    # Touched after every batch; a lock whose heartbeat is older than PURGE_LOCK_STALE_SECONDS
    # belongs to a crashed run and is taken over.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "purge run"

    def __str__(self) -> str:
        return f"Purge #{self.pk} ({self.trigger}, {self.outcome})"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 3)

    @property
    def summary(self) -> str:
        """One line for people: what this run did, or is doing."""
        older = f" created before {self.cutoff:%Y-%m-%dT%H:%M:%SZ}" if self.cutoff else ""
        what = (
            f"{self.events_deleted} events{older} ({self.unsynced_events_deleted} not yet sent "
            f"to Klaviyo) and {self.profiles_deleted} profiles left without events"
        )
        if self.outcome == PurgeOutcome.QUEUED:
            return f"Queued: will purge data older than {self.retention_days} days."
        if self.outcome == PurgeOutcome.SKIPPED:
            return f"Skipped: {self.error}"
        if self.outcome == PurgeOutcome.RUNNING:
            verb = "counted so far" if self.dry_run else "deleted so far"
            return f"Running: {what} {verb}."
        if self.outcome == PurgeOutcome.FAILED:
            if self.dry_run or self.started_at is None:
                return f"{'Dry run failed' if self.dry_run else 'Failed'}: {self.error}"
            return f"Failed after deleting {what}: {self.error}"
        if self.dry_run:
            return f"Dry run: {what} would be deleted."
        return f"Deleted {what}."
