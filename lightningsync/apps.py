from django.apps import AppConfig


class LightningSyncConfig(AppConfig):
    name = "lightningsync"
    verbose_name = "Lightning Sync"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from lightningsync import (
            casefold,
            checks,  # noqa: F401  (registers the system checks)
        )

        casefold.connect()
