"""What makes the engine act between schedules (SPEC §3, §12): a CRM contact change pushes
to Exchange soon; saving an active configuration starts sync for its users; a new connection
method resets every user who synced; migrating keeps the periodic schedule in place."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from lightningsync.effective import users_of
from lightningsync.models import Contact, SyncConfiguration
from lightningsync.signals import configuration_saved, connection_method_changed

from .cycle.reset import mark_everyone_for_reset
from .tasks import enqueue_users, ensure_schedule, push_after_commit


@receiver(post_save, sender=Contact, dispatch_uid="lightningsync-contact-saved")
@receiver(post_delete, sender=Contact, dispatch_uid="lightningsync-contact-deleted")
def contact_changed(sender: type[Contact], instance: Contact, **kwargs: Any) -> None:
    if getattr(settings, "LIGHTNINGSYNC_PUSH_ON_CHANGE", True) and not kwargs.get("raw"):
        push_after_commit(instance.owner_id)


@receiver(configuration_saved, dispatch_uid="lightningsync-configuration-saved")
def configuration_changed(sender: Any, configuration: SyncConfiguration, **kwargs: Any) -> None:
    if configuration.active:
        enqueue_users(users_of(configuration))


@receiver(connection_method_changed, dispatch_uid="lightningsync-connection-method-changed")
def connection_method_switched(sender: Any, old: str, new: str, **kwargs: Any) -> None:
    """EWS and Graph name the same items differently: every user who synced is reset, and
    matching (stamps first) relinks the same pairs without duplicates."""
    mark_everyone_for_reset()


def schedule_after_migrate(sender: Any, app_config: Any = None, **kwargs: Any) -> None:
    """post_migrate: (re)create the periodic schedule once the tables exist."""
    if app_config is not None and app_config.label == "lightningsync":
        ensure_schedule()
