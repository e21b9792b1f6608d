from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ProjectConfig(AppConfig):
    """The project package as an app, so that what spans the apps is wired from the top: the
    periodic tasks of cleanup and klaviyo_sync, written to celery-beat's tables after migrate."""

    name = "klaviyo_backend"
    verbose_name = "Klaviyo backend"

    def ready(self) -> None:
        from klaviyo_backend.beat import on_post_migrate

        post_migrate.connect(on_post_migrate, dispatch_uid="beat_schedule_sync")
