"""What the status page reads (SPEC §7): sync activity per cycle, the org's status snapshot,
and each user's last connection result. The engine and the connection test write them; the
status service (`lightningsync.statuses`) reads them, and never calls Exchange."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class SyncActivity(models.Model):
    """What one cycle of one user wrote, per object and direction.

    Written in the transaction that ends the cycle, for each direction the user's
    configuration syncs, when the cycle wrote records or completed the initial sync (a quiet
    cycle writes nothing). Pruned by the status task; rows of an initial sync are kept longer
    (they tell "Initial sync completed" from "In sync")."""

    class Object(models.TextChoices):
        CONTACT = "contact", "Contacts"
        EVENT = "event", "Events"

    class Direction(models.TextChoices):
        CRM_TO_EXCHANGE = "crm_to_exchange", "CRM to Exchange"
        EXCHANGE_TO_CRM = "exchange_to_crm", "Exchange to CRM"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sync_activity"
    )
    object = models.CharField(max_length=10, choices=Object.choices)
    direction = models.CharField(max_length=20, choices=Direction.choices)
    records = models.PositiveIntegerField(default=0)
    # This cycle completed the user's initial sync of the object.
    initial = models.BooleanField(default=False)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()

    class Meta:
        verbose_name = "Sync activity"
        verbose_name_plural = "Sync activity"
        indexes = [
            models.Index(fields=["finished_at"], name="sync_activity_finished"),
            models.Index(fields=["user", "object", "direction", "finished_at"],
                         name="sync_activity_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.object} {self.direction}: {self.records}"


class OrgStatusSnapshot(models.Model):
    """The org's statuses as the status task last computed them (one row)."""

    SINGLETON_ID = 1

    computed_at = models.DateTimeField()
    # The values of `lightningsync.statuses.OrgFigures`, as JSON.
    figures = models.JSONField(default=dict)

    class Meta:
        verbose_name = "Org status snapshot"
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="org_status_is_singleton"),
        ]

    def __str__(self) -> str:
        return f"Org statuses at {self.computed_at}"


class ConnectionResult(models.Model):
    """The last time Lightning Sync reached (or failed to reach) a user's mailbox: written by
    the sync cycle and by the connection test, through `lightningsync.connectionfacts`.

    A null fact was not seen by the last writer: an earlier writer's value stands."""

    class Failure(models.TextChoices):
        NONE = "", "None"
        AUTHENTICATION = "authentication", "Credentials refused"
        ACCESS = "access", "Impersonation or application access refused"
        MAILBOX = "mailbox", "Mailbox not found"
        VERSION = "version", "Unsupported Exchange version"
        UNREACHABLE = "unreachable", "Exchange not reached"
        CONFIGURATION = "configuration", "Setup incomplete or wrong"
        OTHER = "other", "Other"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="connection_result"
    )
    checked_at = models.DateTimeField()
    source = models.CharField(max_length=20)  # "sync" or "connection test"
    ok = models.BooleanField(default=False)
    failure = models.CharField(max_length=20, choices=Failure.choices, default="", blank=True)
    message = models.TextField(blank=True)
    server_version = models.CharField(max_length=100, blank=True)
    version_supported = models.BooleanField(null=True)
    contacts_folder_found = models.BooleanField(null=True)
    calendar_folder_found = models.BooleanField(null=True)

    class Meta:
        verbose_name = "Connection result"

    def __str__(self) -> str:
        return f"Connection of {self.user_id}: {'ok' if self.ok else self.failure}"
