"""The groups the migrations make: a rep can edit CRM records (the "Sales Reps" group, as
Salesforce's standard sales user can), the Lightning Sync groups stay about Setup, and the
migration puts a group back to exactly its permissions however often it runs."""

from __future__ import annotations

import importlib

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.urls import reverse

from lightningsync.management.commands.lightningsync_demo import DEMO_REP_PASSWORD, seed_demo_org
from lightningsync.models import Contact, User

pytestmark = pytest.mark.django_db

SALES_REPS = importlib.import_module("lightningsync.migrations.0011_sales_reps_group")


def contact_form_data(contact: Contact, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        field.name: getattr(contact, field.attname) or ""
        for field in Contact._meta.concrete_fields
        if field.editable and field.name not in ("id",)
    }
    data.update(owner=contact.owner_id, account=contact.account_id or "")
    data.update(changes)
    return data


def test_a_demo_rep_signs_in_and_edits_a_crm_contact(client):
    seed_demo_org()
    alice = User.objects.get(username="alice")
    assert alice.is_staff and list(alice.groups.values_list("name", flat=True)) == ["Sales Reps"]
    assert client.login(username="alice", password=DEMO_REP_PASSWORD)
    contact = Contact.objects.filter(owner=alice).order_by("pk").first()
    assert contact is not None
    url = reverse("admin:lightningsync_contact_change", args=[contact.pk])
    page = client.get(url)
    assert page.status_code == 200 and 'name="_save"' in page.content.decode()

    response = client.post(url, contact_form_data(contact, title="VP Sales", _save="Save"))

    assert response.status_code == 302, response.content.decode()[:2000]
    contact.refresh_from_db()
    assert contact.title == "VP Sales"


def test_the_setup_groups_still_cannot_edit_a_crm_contact(client, persona):
    seed_demo_org()
    contact = Contact.objects.order_by("pk").first()
    assert contact is not None
    url = reverse("admin:lightningsync_contact_change", args=[contact.pk])
    for role in ("admin", "viewer", "config_manager"):
        client.force_login(persona(role))
        response = client.post(url, contact_form_data(contact, title="Changed", _save="Save"))
        assert response.status_code == 403, role
    contact.refresh_from_db()
    assert contact.title != "Changed"


def test_seeding_the_demo_again_keeps_the_reps_as_they_are():
    seed_demo_org()
    bob = User.objects.get(username="bob")
    bob.set_password("bobs-own")
    bob.save()
    seed_demo_org()
    bob.refresh_from_db()
    assert bob.check_password("bobs-own")
    assert bob.groups.filter(name="Sales Reps").count() == 1


def test_the_migration_puts_the_group_back_to_exactly_its_permissions():
    group = Group.objects.get(name="Sales Reps")
    group.permissions.set(Permission.objects.filter(codename__in=["view_contact", "view_setup"]))
    state = MigrationLoader(connection).project_state(("lightningsync", "0011_sales_reps_group"))

    SALES_REPS.make_groups(state.apps, None)
    SALES_REPS.make_groups(state.apps, None)

    assert Group.objects.filter(name="Sales Reps").count() == 1
    codenames = set(group.permissions.values_list("codename", flat=True))
    assert codenames == set(SALES_REPS.GROUPS["Sales Reps"])
    assert {"add_contact", "change_contact", "delete_contact", "view_user"} <= codenames
