from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "API access"

    def ready(self) -> None:
        # Imported for their side effects: the OpenAPI auth scheme, and the `among` lookup
        # (core.id_runs) on every field.
        from core import id_runs, schema  # noqa: F401
