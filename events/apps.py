from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"

    def ready(self) -> None:
        from core.metrics import state_source_register
        from events import metrics  # its signal receivers count the events accepted

        state_source_register(metrics.event_state_families)
        state_source_register(metrics.consent_state_families)
