from django.db import models
from django.utils import timezone


class SyncHealthSnapshot(models.Model):
    """The dashboard's figures at one moment, computed off the request path (beat, every
    DASHBOARD_REFRESH_SECONDS) so the page reads one row whatever the size of the tables.

    The newest row is what the dashboard shows; older rows (kept SNAPSHOT_HISTORY) give the
    backlog's trend: pending and failed counts over the last day.
    """

    taken_at = models.DateTimeField(default=timezone.now, db_index=True)
    pending = models.PositiveBigIntegerField(default=0)
    failed = models.PositiveBigIntegerField(default=0)
    compute_ms = models.FloatField(default=0)
    figures = models.JSONField(default=dict)

    class Meta:
        ordering = ["-taken_at"]
        get_latest_by = "taken_at"

    def __str__(self) -> str:
        return f"Sync health at {self.taken_at:%Y-%m-%d %H:%M:%S}"
