"""CRM contact changes push to Exchange soon, not at the next schedule (SPEC §12)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from lightningsync.models import Contact

from .tasks import push_after_commit


@receiver(post_save, sender=Contact, dispatch_uid="lightningsync-contact-saved")
@receiver(post_delete, sender=Contact, dispatch_uid="lightningsync-contact-deleted")
def contact_changed(sender: type[Contact], instance: Contact, **kwargs: Any) -> None:
    if getattr(settings, "LIGHTNINGSYNC_PUSH_ON_CHANGE", True) and not kwargs.get("raw"):
        push_after_commit(instance.owner_id)
