from django.apps import AppConfig


class KlaviyoSyncConfig(AppConfig):
    name = "klaviyo_sync"
    verbose_name = "Klaviyo sync"
