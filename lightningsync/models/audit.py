"""Setup Audit Trail: who changed which Setup or configuration field, and when."""

from __future__ import annotations

from django.conf import settings
from django.db import models

SECRET_CHANGED = "changed"


class SetupAuditTrail(models.Model):
    created_at = models.DateTimeField("Date", auto_now_add=True, db_index=True)
    # The user row may go; the name stays readable.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor = models.CharField(max_length=254)
    section = models.CharField(max_length=120)
    action = models.CharField(max_length=255)
    field = models.CharField(max_length=120, blank=True)
    old_value = models.TextField(blank=True)
    new_value = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "Setup Audit Trail entry"
        verbose_name_plural = "Setup Audit Trail"
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor}: {self.action}"
