"""Autodiscover's answer per email domain (SPEC §2), kept 24 hours: the EWS URL it gave or
why it gave none."""

from __future__ import annotations

from django.db import models


class AutodiscoverResult(models.Model):
    domain = models.CharField(max_length=253, unique=True)
    ews_url = models.CharField(max_length=500, blank=True)
    service_url = models.CharField(max_length=500, blank=True)  # the Autodiscover address
    error = models.TextField(blank=True)
    error_kind = models.CharField(max_length=20, blank=True)  # protocol.ErrorKind value
    resolved_at = models.DateTimeField()

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return self.domain
