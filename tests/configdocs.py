"""Configuration documents for tests, and the whole org state an import may touch."""

from __future__ import annotations

import copy
from typing import Any

from lightningsync import configfile
from lightningsync.models import (
    ConfigurationProfile,
    ConfigurationUser,
    ContactFilter,
    LightningSyncSetup,
    SetupAuditTrail,
    SyncConfiguration,
)


def configuration(name: str, **overrides: Any) -> dict:
    """One configuration in the file format; `contacts__direction="none"` sets a nested key."""
    doc: dict[str, Any] = {
        "name": name,
        "description": "",
        "active": True,
        "users": [],
        "profiles": [],
        "contacts": {
            "direction": "both",
            "ownership": "users_records",
            "filters": [],
            "conflict_policy": "crm_wins",
            "mappings": {},
        },
        "events": {
            "direction": "exchange_to_crm",
            "scope": "all",
            "sync_private": False,
            "auto_remove_deleted": False,
            "auto_relate": False,
            "date_filter": "TODAY",
            "mappings": {},
        },
    }
    for path, value in overrides.items():
        target = doc
        *parents, last = path.split("__")
        for p in parents:
            target = target[p]
        target[last] = value
    return doc


def document(*configs: dict, setup: dict | None = None) -> dict:
    doc: dict = {"version": 1, "configurations": list(configs)}
    if setup is not None:
        doc["setup"] = setup
    return doc


def full_document() -> dict:
    """A valid document with a value of every kind, for tests that break one at a time.

    Expects alice@example.com and the Sales profile to exist.
    """
    return {
        "version": 1,
        "setup": {
            "enabled": False,
            "connection_method": "service_account",
            "service_account": {
                "username": "svc@example.com",
                "ews_url": "https://mail.example.com/EWS/Exchange.asmx",
                "autodiscover": False,
                "auth": "basic",
                "additional_domains": ["example.net"],
            },
            "oauth2": {
                "tenant_id": "contoso.onmicrosoft.com",
                "client_id": "00000000-0000-0000-0000-000000000001",
                "graph_url": "https://graph.microsoft.com",
                "authority_url": "https://login.microsoftonline.com",
            },
            "event_selection": {"enabled": False, "category": "Salesforce"},
        },
        "configurations": [
            configuration(
                "West reps",
                description="Reps in the West",
                users=["alice@example.com"],
                profiles=["Sales"],
                contacts__filters=[{"field": "mailing_state", "operator": "equals", "value": "CA"}],
                contacts__mappings={
                    "first_name": "GivenName",
                    "last_name": "Surname",
                    "email": "EmailAddress1",
                    "account_name": "CompanyName",
                    "title": "JobTitle",
                },
                events__date_filter="LAST_N_DAYS:30",
            )
        ],
    }


def changed(doc: dict, path: tuple[str | int, ...], value: Any) -> dict:
    """A copy of `doc` with the value at `path` replaced."""
    copied = copy.deepcopy(doc)
    target = copied
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copied


def value_at(doc: dict, path: tuple[str | int, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def org_state() -> dict[str, Any]:
    """Everything an import may write, down to timestamps: equal states mean no write."""
    return {
        "document": configfile.export_document(),
        "setup": list(LightningSyncSetup.objects.values()),
        "configurations": list(SyncConfiguration.objects.order_by("pk").values()),
        "users": list(ConfigurationUser.objects.order_by("pk").values()),
        "profiles": list(ConfigurationProfile.objects.order_by("pk").values()),
        "filters": list(ContactFilter.objects.order_by("pk").values()),
        "audit": list(SetupAuditTrail.objects.order_by("pk").values()),
    }
