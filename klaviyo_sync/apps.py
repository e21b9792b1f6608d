from django.apps import AppConfig


class KlaviyoSyncConfig(AppConfig):
    name = "klaviyo_sync"
    verbose_name = "Klaviyo sync"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from events.models import ConsentChange, ErasureRequest, Event, ProfileChange
        from klaviyo_sync import receivers

        post_save.connect(receivers.on_event_saved, sender=Event, dispatch_uid="klaviyo_event")
        post_save.connect(
            receivers.on_profile_change_saved,
            sender=ProfileChange,
            dispatch_uid="klaviyo_profile_change",
        )
        post_save.connect(
            receivers.on_consent_change_saved,
            sender=ConsentChange,
            dispatch_uid="klaviyo_consent_change",
        )
        post_save.connect(
            receivers.on_erasure_saved, sender=ErasureRequest, dispatch_uid="klaviyo_erasure"
        )
