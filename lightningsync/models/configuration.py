"""Sync configurations (SPEC §3): who syncs what, in which direction, with which options.

Validation rules live in `lightningsync.configrules`; the effective configuration of a user
in `lightningsync.effective`. Both the Setup pages and configuration import use them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from lightningsync.fieldmaps import CONTACTS, EVENTS

from .crm import Profile


class SyncConfiguration(models.Model):
    class ContactsDirection(models.TextChoices):
        NONE = "none", "Don't sync"
        EXCHANGE_TO_CRM = "exchange_to_crm", "Exchange to CRM"
        CRM_TO_EXCHANGE = "crm_to_exchange", "CRM to Exchange"
        BOTH = "both", "Both ways"

    class Ownership(models.TextChoices):
        USERS_RECORDS = "users_records", "Selected contacts: the user's records"
        ALL = "all", "All contacts"
        # Kept so that a page or an import can name the refused combination precisely.
        SELECTED = "selected", "Selected contacts, without the user's records"

    class ConflictPolicy(models.TextChoices):
        CRM_WINS = "crm_wins", "CRM wins"
        EXCHANGE_WINS = "exchange_wins", "Exchange wins"
        MOST_RECENT = "most_recent", "Most recent change wins"

    class EventsDirection(models.TextChoices):
        NONE = "none", "Don't sync"
        EXCHANGE_TO_CRM = "exchange_to_crm", "Exchange to CRM"

    class EventScope(models.TextChoices):
        ALL = "all", "Sync all events"
        SELECTED = "selected", "Sync only events reps select"

    name = models.CharField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="ConfigurationUser",
        related_name="sync_configurations",
        blank=True,
    )
    profiles = models.ManyToManyField(
        Profile, through="ConfigurationProfile", related_name="sync_configurations", blank=True
    )
    contacts_direction = models.CharField(
        max_length=20, choices=ContactsDirection.choices, default=ContactsDirection.BOTH
    )
    contacts_ownership = models.CharField(
        max_length=20, choices=Ownership.choices, default=Ownership.USERS_RECORDS
    )
    conflict_policy = models.CharField(
        max_length=20, choices=ConflictPolicy.choices, default=ConflictPolicy.CRM_WINS
    )
    contact_mappings = models.JSONField(default=dict, blank=True)
    events_direction = models.CharField(
        max_length=20, choices=EventsDirection.choices, default=EventsDirection.EXCHANGE_TO_CRM
    )
    event_scope = models.CharField(
        max_length=20, choices=EventScope.choices, default=EventScope.ALL
    )
    sync_private_events = models.BooleanField(default=False)
    auto_remove_deleted_events = models.BooleanField(default=False)
    auto_relate_events = models.BooleanField(default=False)
    event_date_filter = models.CharField(max_length=20, default="TODAY")
    event_mappings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "Sync configuration"
        constraints = [
            # Names are matched ignoring case (pages, import); the database agrees.
            models.UniqueConstraint(Lower("name"), name="syncconfiguration_name_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.name

    def effective_contact_mapping(self) -> dict[str, str]:
        return CONTACTS.effective(self.contact_mappings)

    def effective_event_mapping(self) -> dict[str, str]:
        return EVENTS.effective(self.event_mappings)


class ConfigurationUser(models.Model):
    """A direct assignment. A user has at most one (the unique user enforces "moves")."""

    configuration = models.ForeignKey(SyncConfiguration, on_delete=models.CASCADE)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="configuration_assignment"
    )

    def __str__(self) -> str:
        return f"{self.user} → {self.configuration}"


class ConfigurationProfile(models.Model):
    """A profile assignment. A profile belongs to at most one configuration."""

    configuration = models.ForeignKey(SyncConfiguration, on_delete=models.CASCADE)
    profile = models.OneToOneField(
        Profile, on_delete=models.CASCADE, related_name="configuration_assignment"
    )

    def __str__(self) -> str:
        return f"{self.profile} → {self.configuration}"


class ContactFilter(models.Model):
    """One extra field filter (CRM to Exchange only); all of a configuration's rows are ANDed."""

    class Operator(models.TextChoices):
        EQUALS = "equals", "equals"
        NOT_EQUALS = "not_equals", "not equal to"
        CONTAINS = "contains", "contains"
        STARTS_WITH = "starts_with", "starts with"
        IN = "in", "in list"
        LESS_THAN = "less_than", "less than"
        GREATER_THAN = "greater_than", "greater than"

    configuration = models.ForeignKey(
        SyncConfiguration, on_delete=models.CASCADE, related_name="contact_filters"
    )
    position = models.PositiveSmallIntegerField(default=0)
    field = models.CharField(max_length=50)
    operator = models.CharField(max_length=20, choices=Operator.choices)
    value = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["configuration", "position", "id"]

    def __str__(self) -> str:
        return f"{self.field} {self.get_operator_display()} {self.value!r}"
