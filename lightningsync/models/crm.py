"""The CRM records: the "Salesforce" side of the sync (SPEC §1). Public names; keep them."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower


class Profile(models.Model):
    name = models.CharField(max_length=80, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    profile = models.ForeignKey(
        Profile, null=True, blank=True, on_delete=models.SET_NULL, related_name="users"
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        constraints = [
            # Users are named by email in configuration files and Exchange mailboxes.
            models.UniqueConstraint(
                Lower("email"), condition=~models.Q(email=""), name="user_email_ci_unique"
            ),
        ]

    def __str__(self) -> str:
        full = self.get_full_name()
        return f"{full} <{self.email}>" if full and self.email else (full or self.username)


class Account(models.Model):
    name = models.CharField("Account Name", max_length=255, db_index=True)
    owner = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="accounts",
        verbose_name="Account Owner",
    )
    created_at = models.DateTimeField("Created Date", auto_now_add=True)
    updated_at = models.DateTimeField("Last Modified Date", auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(Lower("name"), name="account_name_ci"),
            # The push looks for accounts changed since the last cycle.
            models.Index(fields=["updated_at"], name="account_updated"),
        ]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    owner = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="contacts", verbose_name="Contact Owner"
    )
    first_name = models.CharField(max_length=40, blank=True)
    last_name = models.CharField(max_length=80)
    email = models.EmailField(blank=True)
    account = models.ForeignKey(
        Account,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contacts",
        verbose_name="Account Name",
    )
    title = models.CharField(max_length=128, blank=True)
    department = models.CharField(max_length=80, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    mobile_phone = models.CharField("Mobile", max_length=40, blank=True)
    home_phone = models.CharField(max_length=40, blank=True)
    fax = models.CharField(max_length=40, blank=True)
    assistant_name = models.CharField(max_length=40, blank=True)
    assistant_phone = models.CharField(max_length=40, blank=True)
    birthdate = models.DateField(null=True, blank=True)
    mailing_street = models.CharField(max_length=255, blank=True)
    mailing_city = models.CharField(max_length=40, blank=True)
    mailing_state = models.CharField(max_length=80, blank=True)
    mailing_postal_code = models.CharField(max_length=20, blank=True)
    mailing_country = models.CharField(max_length=80, blank=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField("Created Date", auto_now_add=True)
    updated_at = models.DateTimeField("Last Modified Date", auto_now=True, db_index=True)

    class Meta:
        ordering = ["last_name", "first_name"]
        indexes = [
            models.Index(Lower("email"), name="contact_email_ci"),
            models.Index(fields=["owner", "last_name", "first_name"], name="contact_owner_name"),
            # First-sight matching looks contacts up by name regardless of case.
            models.Index(Lower("last_name"), name="contact_last_name_ci"),
            # The push's parts (syncengine.contacts.examined): a user's contacts changed
            # since the last cycle, and a changed account's contacts of one user.
            models.Index(fields=["owner", "updated_at"], name="contact_owner_updated"),
            models.Index(fields=["account", "owner"], name="contact_account_owner"),
        ]

    def __str__(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


class Lead(models.Model):
    owner = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="leads", verbose_name="Lead Owner"
    )
    first_name = models.CharField(max_length=40, blank=True)
    last_name = models.CharField(max_length=80)
    email = models.EmailField(blank=True)
    company = models.CharField(max_length=255)
    created_at = models.DateTimeField("Created Date", auto_now_add=True)
    updated_at = models.DateTimeField("Last Modified Date", auto_now=True)

    class Meta:
        ordering = ["last_name", "first_name"]
        indexes = [models.Index(Lower("email"), name="lead_email_ci")]

    def __str__(self) -> str:
        name = " ".join(p for p in (self.first_name, self.last_name) if p)
        return f"{name} ({self.company})"


class Event(models.Model):
    class ShowAs(models.TextChoices):
        FREE = "free", "Free"
        TENTATIVE = "tentative", "Tentative"
        BUSY = "busy", "Busy"
        OUT_OF_OFFICE = "out_of_office", "Out of Office"
        WORKING_ELSEWHERE = "working_elsewhere", "Working Elsewhere"

    owner = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="events", verbose_name="Assigned To"
    )
    subject = models.CharField(max_length=255)
    start = models.DateTimeField()
    end = models.DateTimeField()
    is_all_day = models.BooleanField("All-Day Event", default=False)
    location = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)
    show_as = models.CharField(
        "Show Time As", max_length=20, choices=ShowAs.choices, default=ShowAs.BUSY
    )
    is_private = models.BooleanField("Private", default=False)
    who_contact = models.ForeignKey(
        Contact,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="events",
        verbose_name="Name (contact)",
    )
    who_lead = models.ForeignKey(
        Lead,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="events",
        verbose_name="Name (lead)",
    )
    what_account = models.ForeignKey(
        Account,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="events",
        verbose_name="Related To",
    )
    created_at = models.DateTimeField("Created Date", auto_now_add=True)
    updated_at = models.DateTimeField("Last Modified Date", auto_now=True)

    class Meta:
        ordering = ["-start"]
        indexes = [models.Index(fields=["owner", "start"], name="event_owner_start")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(who_contact__isnull=True) | models.Q(who_lead__isnull=True),
                name="event_one_who",
                violation_error_message="An event relates to a contact or a lead, not both.",
            ),
            models.CheckConstraint(
                condition=models.Q(end__gte=models.F("start")),
                name="event_end_after_start",
                violation_error_message="The event ends before it starts.",
            ),
        ]

    def __str__(self) -> str:
        return self.subject
