"""Connection test runs (SPEC §6): who asked, for which rep, and each step's result as the
test reaches it (the page shows them while the task runs)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ConnectionTestRun(models.Model):
    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCESSFUL = "successful", "Successful"
        WARNINGS = "warnings", "Successful with warnings"
        FAILED = "failed", "Failed"

    email = models.CharField(max_length=254)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.RUNNING)
    # [{"key", "title", "status": pass|warning|fail|skipped, "detail", "suggestion"}], in order
    steps = models.JSONField(default=list, blank=True)

    class Meta:
        default_permissions = ()
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"Connection test for {self.email}"
