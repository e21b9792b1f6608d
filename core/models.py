from django.db import models
from rest_framework_api_key.models import AbstractAPIKey


class ApiKey(AbstractAPIKey):
    """A client key created in admin; only its hash is stored."""

    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"


class WorkerHeartbeat(models.Model):
    """The last time each Celery worker said it was alive (every WORKER_HEARTBEAT_SECONDS):
    /health reports `degraded` when no worker has been seen for HEALTH_WORKER_SILENT_SECONDS."""

    hostname = models.CharField(max_length=255, unique=True)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-seen_at"]

    def __str__(self) -> str:
        return self.hostname
