"""Sync state: per-user state, cursors per folder, links per item, and the error report.

The engine (`syncengine`) writes these; the status page and the error report read them.
Everything a crashed worker needs to resume lives here, never in memory: cursors and links
are saved in the same transaction as the CRM writes of the page they describe.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from .crm import Contact, Event


class UserSyncState(models.Model):
    """One row per syncing user: the claim (lock), pauses, back-off and progress flags."""

    class PauseReason(models.TextChoices):
        NONE = "", "Not paused"
        MASS_DELETE = "mass_delete", "Salesforce_Sync found empty or missing"
        AUTHENTICATION = "authentication", "Exchange refused the credentials"
        CONFIGURATION = "configuration", "The connection or configuration is incomplete"
        OTHER_ORG = "other_org", "The mailbox is synced by another org"

    class ResetState(models.TextChoices):
        NONE = "", "No reset"
        MARKED = "marked", "Marked for reset"
        IN_PROGRESS = "in_progress", "Reset in progress"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sync_state"
    )
    # Pauses. Authentication/configuration pauses hold the whole user until Setup changes;
    # the contact pause (mass-delete guard) holds until an admin resets the user.
    paused_reason = models.CharField(
        max_length=20, choices=PauseReason.choices, default="", blank=True
    )
    paused_message = models.TextField(blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    contacts_paused_reason = models.CharField(
        max_length=20, choices=PauseReason.choices, default="", blank=True
    )
    contacts_paused_message = models.TextField(blank=True)
    contacts_paused_at = models.DateTimeField(null=True, blank=True)
    # The claim: a conditional UPDATE sets these; an expired claim is free again (a crashed
    # worker never releases its claim).
    claim_token = models.CharField(max_length=36, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    # Throttling and transient failures, persisted per mailbox.
    backoff_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # Progress, for the status page.
    last_sync_started_at = models.DateTimeField(null=True, blank=True)
    last_sync_finished_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    contacts_initial_sync_done = models.BooleanField(default=False)
    events_initial_sync_done = models.BooleanField(default=False)
    # What the contact sync ran with last time; a change forces a full pass.
    contacts_config_fingerprint = models.CharField(max_length=64, blank=True)
    # What the event sync ran with last time (scope, window, private, mapping); a change
    # re-lists the calendar (SPEC §5: widening the set).
    events_config_fingerprint = models.CharField(max_length=64, blank=True)
    # CRM contacts changed at or after this moment are examined by the next cycle;
    # null = examine all (first cycle, after a reset or a configuration change).
    contacts_crm_watermark = models.DateTimeField(null=True, blank=True)
    reset_state = models.CharField(
        max_length=20, choices=ResetState.choices, default="", blank=True
    )
    reset_requested_at = models.DateTimeField(null=True, blank=True)
    # What a pending reset waits for (the user cannot sync yet: Lightning Sync off, no active
    # configuration, paused, backing off), as the last cycle found it; empty once it runs.
    reset_waiting_for = models.TextField(blank=True)

    class Meta:
        verbose_name = "User sync state"

    def __str__(self) -> str:
        return f"Sync state of {self.user}"


class FolderCursor(models.Model):
    """Where the engine is in one folder of one mailbox."""

    class FolderKind(models.TextChoices):
        CONTACTS = "contacts", "Contacts (Salesforce_Sync)"
        CALENDAR = "calendar", "Calendar"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="folder_cursors"
    )
    kind = models.CharField(max_length=20, choices=FolderKind.choices)
    folder_id = models.CharField(max_length=512)
    # Opaque to the engine: an EWS sync state or a Graph delta link. Empty = list everything.
    cursor = models.TextField(blank=True)
    # A full listing (after an invalid cursor) marks every link it sees with this generation;
    # links left unmarked at its end are gone from the folder.
    full_listing = models.BooleanField(default=False)
    listing_generation = models.PositiveIntegerField(default=0)
    # Linked items at the end of the last completed cycle (the mass-delete guard reads it).
    linked_count = models.PositiveIntegerField(default=0)
    # When the engine last saw the folder where it belongs (Salesforce_Sync directly under
    # Contacts): Outlook "deletes" a folder by moving it, id and all, under Deleted Items,
    # which its own change listing never shows. Checked before any write and at most hourly
    # otherwise, so a quiet cycle stays one listing request.
    folder_checked_at = models.DateTimeField(null=True, blank=True)
    # Some links may still wait for their item's stamps (a crash anywhere between a page's
    # commit and the end of its stamping, or a refused stamp): the next cycle stamps them
    # first. The links' needs_stamp flags are the truth; this is cleared once none is set.
    stamps_pending = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="folder_cursor_user_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}/{self.kind}"


class ItemLink(models.Model):
    """What every link between a CRM record and an Exchange item holds besides its record."""

    # NULL, not "": detached links have no item, and the uniqueness holds only among items.
    exchange_id = models.CharField(max_length=512, null=True, blank=True)  # noqa: DJ001
    change_key = models.CharField(max_length=255, blank=True)
    # The normalized mapped fields as last synced (contacts: the base of the three-way
    # merge; events: what Exchange said last).
    snapshot = models.JSONField(default=dict)
    snapshot_hash = models.CharField(max_length=64, blank=True)
    seen_generation = models.PositiveIntegerField(default=0)
    # Linked, but the item does not carry our stamps yet (SPEC §8): written after the page.
    needs_stamp = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class ContactLink(ItemLink):
    """One CRM contact ⇄ one Exchange contact of one user.

    The link outlives either side: a null contact means "deleted in the CRM" (its Exchange copy
    is still to be removed), a detached link (no Exchange id) means "deleted from, or moved
    out of, Salesforce_Sync": the CRM contact is kept and never pushed back.
    """

    class Origin(models.TextChoices):
        CRM = "crm", "CRM"
        EXCHANGE = "exchange", "Exchange"

    class State(models.TextChoices):
        ACTIVE = "active", "Linked"
        DETACHED = "detached", "Removed from Exchange"
        # The push is removing the item (the contact left the filters): a DELETE the listing
        # then shows is the push's own, so the link is dropped, never detached.
        REMOVING = "removing", "Being removed from Exchange"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="contact_links"
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="sync_links"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    origin = models.CharField(max_length=10, choices=Origin.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "exchange_id"],
                condition=models.Q(exchange_id__isnull=False),
                name="contact_link_user_item",
            ),
            models.UniqueConstraint(
                fields=["user", "contact"],
                condition=models.Q(contact__isnull=False),
                name="contact_link_user_contact",
            ),
        ]
        indexes = [models.Index(fields=["contact", "user"], name="contact_link_contact")]

    def __str__(self) -> str:
        return f"{self.contact_id} ⇄ {self.exchange_id}"


class EventLink(ItemLink):
    """One CRM event ⇄ one Exchange calendar item of one user (events sync one way).

    A null event means "deleted in the CRM": the item is never imported again (SPEC §5). A
    detached link (no Exchange id) means the item was deleted in Exchange and the CRM event
    kept (auto-remove off).
    """

    class State(models.TextChoices):
        ACTIVE = "active", "Linked"
        DETACHED = "detached", "Deleted in Exchange"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="event_links"
    )
    event = models.ForeignKey(
        Event, null=True, blank=True, on_delete=models.SET_NULL, related_name="sync_links"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "exchange_id"],
                condition=models.Q(exchange_id__isnull=False),
                name="event_link_user_item",
            ),
            models.UniqueConstraint(
                fields=["user", "event"],
                condition=models.Q(event__isnull=False),
                name="event_link_user_event",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} ⇄ {self.exchange_id}"


class LightningSyncError(models.Model):
    """The error report (SPEC §9). Repeats fold into one row by fingerprint."""

    class Object(models.TextChoices):
        CONTACT = "contact", "Contact"
        EVENT = "event", "Event"

    class Direction(models.TextChoices):
        EXCHANGE_TO_CRM = "exchange_to_crm", "Exchange to CRM"
        CRM_TO_EXCHANGE = "crm_to_exchange", "CRM to Exchange"
        BOTH = "both", "Both ways"

    class Kind(models.TextChoices):
        CONNECTION = "connection", "Connection"
        AUTHENTICATION = "authentication", "Authentication"
        IMPERSONATION = "impersonation", "Impersonation/access"
        THROTTLED = "throttled", "Throttled"
        ITEM_REJECTED = "item_rejected", "Item rejected"
        CONFLICT = "conflict", "Conflict"
        UNRESOLVED_ACCOUNT = "unresolved_account", "Unresolved account"
        FILTER = "filter", "Filter"
        LIMIT = "limit", "Limit"
        MASS_DELETE = "mass_delete", "Mass delete"
        OTHER_ORG = "other_org", "Other org"
        INTERNAL = "internal", "Internal"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sync_errors"
    )
    object = models.CharField(max_length=10, choices=Object.choices, default=Object.CONTACT)
    direction = models.CharField(max_length=20, choices=Direction.choices)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    exchange_item_id = models.CharField(max_length=512, blank=True)
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="sync_errors"
    )
    crm_record_id = models.CharField("CRM record", max_length=64, blank=True)
    message = models.TextField()
    suggestion = models.TextField(blank=True)
    first_occurred_at = models.DateTimeField()
    last_occurred_at = models.DateTimeField(db_index=True)
    count = models.PositiveIntegerField(default=1)
    resolved = models.BooleanField(default=False)
    resolved_at = models.DateTimeField(null=True, blank=True)
    fingerprint = models.CharField(max_length=64)
    # An item Exchange refused is tried again at the first cycle from this moment (a day
    # after it was last refused, or at once after an admin's Retry), or when it changes.
    next_try_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "Lightning Sync error"
        ordering = ["-last_occurred_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "fingerprint"], name="sync_error_fingerprint"),
        ]
        indexes = [
            models.Index(fields=["user", "resolved"], name="sync_error_user_open"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.message}"
