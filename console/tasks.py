from celery import shared_task

from console.services import sync_health_refresh


@shared_task(name="console.tasks.refresh_sync_health")
def refresh_sync_health() -> float:
    """Beat, every DASHBOARD_REFRESH_SECONDS: the dashboard's figures, off the request path."""
    return sync_health_refresh().compute_ms
