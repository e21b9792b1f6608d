from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "API access"

    def ready(self) -> None:
        # Imported for its side effect: the OpenAPI auth scheme.
        from core import schema  # noqa: F401
