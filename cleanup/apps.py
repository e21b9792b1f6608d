from django.apps import AppConfig


class CleanupConfig(AppConfig):
    name = "cleanup"
    verbose_name = "Data retention"

    def ready(self) -> None:
        from cleanup.metrics import purge_state_families
        from core.metrics import state_source_register

        state_source_register(purge_state_families)
