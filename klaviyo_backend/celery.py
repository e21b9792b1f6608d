"""The Celery application; configuration comes from Django settings (CELERY_* names)."""

import os

from celery import Celery

from klaviyo_backend.worker_heartbeat import WorkerHeartbeatStep

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "klaviyo_backend.settings")

app = Celery("klaviyo_backend")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Every worker records that it is alive, for /health.
app.steps["worker"].add(WorkerHeartbeatStep)
