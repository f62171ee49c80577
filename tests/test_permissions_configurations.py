"""Who may read and change sync configurations (SPEC §11; the seed's user permissions).

Reading: "View Setup and Configuration", or the manage permissions. Creating, editing and
deleting: Manage Exchange Configurations AND Manage Users.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from lightningsync.models import SyncConfiguration
from tests.factories import StaffUserFactory, SyncConfigurationFactory
from tests.test_configurations_pages import form_data

pytestmark = pytest.mark.django_db

LIST = reverse("admin:lightningsync_syncconfiguration_changelist")
ADD = reverse("admin:lightningsync_syncconfiguration_add")

READERS = ("admin", "viewer", "config_manager")
MANAGERS = ("admin", "config_manager")
EVERYONE = ("admin", "viewer", "config_manager", "reporter", "nobody")


def sign_in(client, persona, name: str):
    client.force_login(persona(name))
    return client


def urls(config: SyncConfiguration) -> dict[str, str]:
    return {
        "change": reverse("admin:lightningsync_syncconfiguration_change", args=[config.pk]),
        "delete": reverse("admin:lightningsync_syncconfiguration_delete", args=[config.pk]),
        "history": reverse("admin:lightningsync_syncconfiguration_history", args=[config.pk]),
    }


@pytest.mark.parametrize("name", EVERYONE)
def test_it_shows_the_list_only_to_readers(client, persona, name):
    response = sign_in(client, persona, name).get(LIST)
    assert response.status_code == (200 if name in READERS else 403)


@pytest.mark.parametrize("name", EVERYONE)
def test_it_shows_a_configuration_only_to_readers(client, persona, name):
    config = SyncConfigurationFactory()
    response = sign_in(client, persona, name).get(urls(config)["change"])
    assert response.status_code == (200 if name in READERS else 403)
    if name in READERS:
        editable = 'name="name"' in response.content.decode()
        assert editable == (name in MANAGERS)


@pytest.mark.parametrize("name", EVERYONE)
def test_it_offers_the_new_button_only_to_managers(client, persona, name):
    response = sign_in(client, persona, name).get(LIST)
    if response.status_code == 200:
        shown = "New Lightning Sync Configuration" in response.content.decode()
        assert shown == (name in MANAGERS)


@pytest.mark.parametrize("name", EVERYONE)
def test_it_lets_only_managers_add(client, persona, name):
    client = sign_in(client, persona, name)
    assert client.get(ADD).status_code == (200 if name in MANAGERS else 403)
    response = client.post(ADD, form_data(name="Made by " + name))
    assert response.status_code == (302 if name in MANAGERS else 403)
    assert SyncConfiguration.objects.filter(name="Made by " + name).exists() == (name in MANAGERS)


@pytest.mark.parametrize("name", EVERYONE)
def test_it_lets_only_managers_change(client, persona, name):
    config = SyncConfigurationFactory(name="Before")
    response = sign_in(client, persona, name).post(urls(config)["change"], form_data(name="After"))
    assert response.status_code == (302 if name in MANAGERS else 403)
    config.refresh_from_db()
    assert config.name == ("After" if name in MANAGERS else "Before")


@pytest.mark.parametrize("name", EVERYONE)
def test_it_lets_only_managers_delete(client, persona, name):
    config = SyncConfigurationFactory()
    client = sign_in(client, persona, name)
    assert client.get(urls(config)["delete"]).status_code == (200 if name in MANAGERS else 403)
    response = client.post(urls(config)["delete"], {"post": "yes"})
    assert response.status_code == (302 if name in MANAGERS else 403)
    assert SyncConfiguration.objects.filter(pk=config.pk).exists() == (name not in MANAGERS)


@pytest.mark.parametrize("name", EVERYONE)
def test_it_lets_only_managers_use_the_delete_action(client, persona, name):
    config = SyncConfigurationFactory()
    response = sign_in(client, persona, name).post(
        LIST, {"action": "delete_selected", "_selected_action": [config.pk], "post": "yes"}
    )
    # Readers get the list back (the action is not theirs); others are refused outright.
    assert response.status_code in ((302,) if name in MANAGERS else (200, 403))
    assert SyncConfiguration.objects.filter(pk=config.pk).exists() == (name not in MANAGERS)


@pytest.mark.parametrize(
    "codenames",
    [("manage_exchange_configurations",), ("manage_users",)],
)
def test_it_needs_both_manage_permissions_to_change(client, codenames):
    """Either manage permission alone is not enough to add, change or delete."""
    user = StaffUserFactory()
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="lightningsync", codename__in=codenames)
    )
    client.force_login(user)
    config = SyncConfigurationFactory(name="Before")
    assert client.get(ADD).status_code == 403
    assert client.post(urls(config)["change"], form_data(name="After")).status_code == 403
    assert client.post(urls(config)["delete"], {"post": "yes"}).status_code == 403
    config.refresh_from_db()
    assert config.name == "Before"


def test_it_sends_anonymous_visitors_to_sign_in(client):
    config = SyncConfigurationFactory()
    for url in (LIST, ADD, *urls(config).values()):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]
