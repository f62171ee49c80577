from django.apps import AppConfig


class SyncEngineConfig(AppConfig):
    name = "syncengine"
    verbose_name = "Sync engine"

    def ready(self) -> None:
        from syncengine import signals  # noqa: F401  (connects the CRM change push)
