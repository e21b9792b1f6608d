from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "API access"

    def ready(self) -> None:
        from klaviyo_backend.beat import on_post_migrate

        post_migrate.connect(on_post_migrate, dispatch_uid="beat_schedule_sync")
        # Imported for their side effects: the metrics' signal receivers, the OpenAPI auth scheme.
        from core import metrics, schema  # noqa: F401
