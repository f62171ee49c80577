from django.apps import AppConfig


class SyncEngineConfig(AppConfig):
    name = "syncengine"
    verbose_name = "Sync engine"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from syncengine import signals  # connects the CRM change push and configuration saves

        post_migrate.connect(signals.schedule_after_migrate, dispatch_uid="lightningsync-schedule")
