"""Seed a demo org: profiles, users, accounts, contacts, leads, events and one configuration.

Idempotent: running it twice leaves one copy of everything. Used by `make demo`.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from lightningsync.models import (
    Account,
    ConfigurationProfile,
    Contact,
    Event,
    Lead,
    Profile,
    SyncConfiguration,
    User,
)

DEMO_ADMIN = ("admin", "lightning-demo")
DEMO_REP_PASSWORD = "lightning-demo"  # alice, bob, carol and dan
SALES_REPS_GROUP = "Sales Reps"
DEMO_DOMAIN = "demo.example"
REPS = [
    ("alice", "Alice", "Nguyen", "Sales User"),
    ("bob", "Bob", "Okafor", "Sales User"),
    ("carol", "Carol", "Schmidt", "Sales Manager"),
    ("dan", "Dan", "Moreau", "Sales User"),
]
# A rep whose mailbox domain the service account does not serve until Setup lists it under
# Additional domains: the status page and the error report say so.
REP_DOMAINS = {"dan": "partner.example"}
ACCOUNTS = [
    "Acme Corporation",
    "Globex",
    "Initech",
    "Umbrella Health",
    "Stark Industries",
    "Wayne Enterprises",
    "Soylent Foods",
    "Hooli",
]
FIRST = ["Maria", "James", "Aiko", "Pedro", "Fatima", "Liam", "Chen", "Olga", "Tom", "Zara"]
LAST = ["Garcia", "Smith", "Tanaka", "Silva", "Khan", "Murphy", "Li", "Ivanova", "Berg", "Ali"]
STATES = ["CA", "NY", "TX", "WA", "IL"]


class Command(BaseCommand):
    help = "Seed a demo org (idempotent): users, CRM records and one sync configuration."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            summary = seed_demo_org()
        self.stdout.write(summary)


def seed_demo_org() -> str:
    rng = random.Random(2026)
    username, password = DEMO_ADMIN
    admin, created = User.objects.get_or_create(
        username=username,
        defaults={"email": f"{username}@{DEMO_DOMAIN}", "is_staff": True, "is_superuser": True},
    )
    if created:
        admin.set_password(password)
        admin.save()
    admin.groups.add(*Group.objects.filter(name="Lightning Sync Administrators"))

    profiles = {
        name: Profile.objects.get_or_create(name=name)[0]
        for name in ("Sales User", "Sales Manager")
    }
    reps = []
    sales_reps = Group.objects.filter(name=SALES_REPS_GROUP)
    for login, first, last, profile_name in REPS:
        rep, _ = User.objects.get_or_create(
            username=login,
            defaults={
                "email": f"{login}@{REP_DOMAINS.get(login, DEMO_DOMAIN)}",
                "first_name": first,
                "last_name": last,
                "profile": profiles[profile_name],
            },
        )
        # Reps sign in with the demo password and edit their CRM records (Sales Reps).
        if not rep.is_staff or not rep.has_usable_password():
            rep.is_staff = True
            rep.set_password(DEMO_REP_PASSWORD)
            rep.save()
        rep.groups.add(*sales_reps)
        reps.append(rep)

    accounts = [Account.objects.get_or_create(name=name)[0] for name in ACCOUNTS]
    if not Contact.objects.exists():
        contacts = []
        for n in range(40):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            account = accounts[n % len(accounts)]
            contacts.append(
                Contact(
                    owner=reps[n % 2],
                    first_name=first,
                    last_name=f"{last}{'' if n < 10 else n}",
                    email=f"{first}.{last}{n}@{account.name.split()[0].lower()}.example".lower(),
                    account=account,
                    title=rng.choice(["Buyer", "CTO", "Head of Operations", "Engineer"]),
                    phone=f"+1 415 555 {1000 + n:04d}",
                    mailing_city=rng.choice(["San Francisco", "Austin", "Seattle"]),
                    mailing_state=rng.choice(STATES),
                    mailing_country="USA",
                )
            )
        Contact.objects.bulk_create(contacts)
    if not Lead.objects.exists():
        Lead.objects.bulk_create(
            Lead(
                owner=reps[n % 3],
                first_name=rng.choice(FIRST),
                last_name=rng.choice(LAST),
                email=f"lead{n}@prospect{n}.example",
                company=f"Prospect {n} Ltd",
            )
            for n in range(10)
        )
    if not Event.objects.exists():
        now = timezone.now().replace(minute=0, second=0, microsecond=0)
        Event.objects.bulk_create(
            Event(
                owner=reps[n % 3],
                subject=f"Demo call {n + 1}",
                start=now + dt.timedelta(days=n - 3, hours=2),
                end=now + dt.timedelta(days=n - 3, hours=3),
                location="Zoom",
            )
            for n in range(10)
        )

    config, _ = SyncConfiguration.objects.get_or_create(
        name="Demo reps",
        defaults={
            "description": "Sales users sync contacts both ways and all events from today; "
            "events are related to the CRM contacts and leads they meet.",
            "contacts_direction": SyncConfiguration.ContactsDirection.BOTH,
            "events_direction": SyncConfiguration.EventsDirection.EXCHANGE_TO_CRM,
            "auto_relate_events": True,
        },
    )
    ConfigurationProfile.objects.get_or_create(
        profile=profiles["Sales User"], defaults={"configuration": config}
    )
    return (
        f"Demo org ready: {User.objects.count()} users, {Account.objects.count()} accounts, "
        f"{Contact.objects.count()} contacts, {Lead.objects.count()} leads, "
        f"{Event.objects.count()} events, configuration “{config.name}”."
    )
