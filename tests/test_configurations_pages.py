"""Setup → Sync Configurations pages: list, create, edit, delete (SPEC §3)."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from lightningsync.fieldmaps import CONTACTS, EVENTS
from lightningsync.models import (
    ConfigurationUser,
    ContactFilter,
    SetupAuditTrail,
    SyncConfiguration,
)
from tests.factories import ProfileFactory, SyncConfigurationFactory, UserFactory

pytestmark = pytest.mark.django_db

LIST = reverse("admin:lightningsync_syncconfiguration_changelist")
ADD = reverse("admin:lightningsync_syncconfiguration_add")


def change_url(config: SyncConfiguration) -> str:
    return reverse("admin:lightningsync_syncconfiguration_change", args=[config.pk])


def delete_url(config: SyncConfiguration) -> str:
    return reverse("admin:lightningsync_syncconfiguration_delete", args=[config.pk])


def form_data(**overrides) -> dict:
    """What the browser posts for a new configuration left at its defaults."""
    data = {
        "name": "West reps",
        "description": "",
        "active": "on",
        "contacts_direction": "both",
        "events_direction": "exchange_to_crm",
        "event_scope": "all",
        "contact_scope": "selected",
        "users_records": "on",
        "date_filter": "TODAY",
        "date_filter_days": "",
        "conflict_policy": "crm_wins",
        "filters-field": [""],
        "filters-operator": ["equals"],
        "filters-value": [""],
    }
    for crm, exchange in CONTACTS.default.items():
        if crm not in CONTACTS.fixed:
            data[f"contact_field_mappings-{crm}"] = exchange
    for crm, exchange in EVENTS.default.items():
        if crm not in EVENTS.fixed:
            data[f"event_field_mappings-{crm}"] = exchange
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def errors_of(response, field: str) -> list[str]:
    return list(response.context["adminform"].form.errors.get(field, []))


def test_it_lists_configurations_with_counts(admin_client):
    alice, bob = UserFactory(), UserFactory()
    SyncConfigurationFactory(name="West reps", users=[alice, bob], profiles=[ProfileFactory()])
    SyncConfigurationFactory(name="East reps", active=False)
    response = admin_client.get(LIST)
    assert response.status_code == 200
    rows = {r.name: (r.users_total, r.profiles_total) for r in response.context["cl"].result_list}
    assert rows == {"West reps": (2, 1), "East reps": (0, 0)}
    assert "New Lightning Sync Configuration" in response.content.decode()


def test_it_lists_in_a_constant_number_of_queries(admin_client):
    admin_client.get(LIST)  # warm caches (content types, session)
    SyncConfigurationFactory(users=[UserFactory()])
    with CaptureQueriesContext(connection) as few:
        admin_client.get(LIST)
    for _ in range(5):
        SyncConfigurationFactory(users=[UserFactory(), UserFactory()], profiles=[ProfileFactory()])
    with CaptureQueriesContext(connection) as many:
        admin_client.get(LIST)
    assert len(many) == len(few)


def test_it_shows_the_new_configuration_form_in_the_seed_order(admin_client):
    response = admin_client.get(ADD)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<title>New Lightning Sync Configuration" in html
    headings = re.findall(r'class="fieldset-heading">([^<]+)<', html)
    assert headings == [
        "Name and status",
        "Users and profiles",
        "Contacts",
        "Edit Field Mappings: contacts",
        "Events",
        "Edit Field Mappings: events",
        "Contacts sent from the CRM to Exchange",
        "Event options",
        "Event date filter",
        "Conflicts",
    ]
    assert "moves them here when you save" in html
    assert "used for matching" in html
    assert 'name="contact_field_mappings-title"' in html
    assert 'name="contact_field_mappings-first_name"' not in html  # fixed: not editable


def test_it_creates_a_configuration_through_the_service(admin_client, admin_user):
    alice = UserFactory(email="alice@example.com")
    sales = ProfileFactory(name="Sales")
    response = admin_client.post(
        ADD,
        form_data(
            users=[alice.pk],
            profiles=[sales.pk],
            date_filter="LAST_N_DAYS",
            date_filter_days="30",
            **{
                "filters-field": ["mailing_state", "title", ""],
                "filters-operator": ["equals", "contains", "equals"],
                "filters-value": ["CA", "VP", ""],
                "contact_field_mappings-title": "",
            },
        ),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    config = SyncConfiguration.objects.get()
    assert config.name == "West reps"
    assert config.event_date_filter == "LAST_N_DAYS:30"
    assert list(config.users.all()) == [alice]
    assert list(config.profiles.all()) == [sales]
    assert list(ContactFilter.objects.values_list("field", "operator", "value")) == [
        ("mailing_state", "equals", "CA"),
        ("title", "contains", "VP"),
    ]
    assert "title" not in config.contact_mappings
    assert config.event_mappings == {}  # the defaults stay "defaults"
    assert SetupAuditTrail.objects.filter(
        actor=admin_user.email, action="Created sync configuration (Setup page)"
    ).exists()


def test_it_edits_and_says_whom_it_moved(admin_client):
    alice = UserFactory(email="alice@example.com", first_name="Alice", last_name="Ames")
    SyncConfigurationFactory(name="East reps", users=[alice])
    west = SyncConfigurationFactory(name="West reps")
    page = admin_client.get(change_url(west))
    assert "Alice Ames &lt;alice@example.com&gt; — now in “East reps”" in page.content.decode()
    response = admin_client.post(change_url(west), form_data(users=[alice.pk]), follow=True)
    assert response.status_code == 200
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert "Moved Alice Ames from “East reps”." in texts
    assert ConfigurationUser.objects.get(user=alice).configuration == west


def test_it_shows_the_refused_ownership_next_to_users_records(admin_client):
    response = admin_client.post(ADD, form_data(users_records=None))
    assert response.status_code == 200
    assert errors_of(response, "users_records") == [
        "“Selected contacts” needs “User's records”: without it no contact would sync. "
        "Choose Selected contacts with User's records, or All contacts."
    ]
    assert not SyncConfiguration.objects.exists()


def test_it_accepts_all_contacts_without_users_records(admin_client):
    response = admin_client.post(ADD, form_data(users_records=None, contact_scope="all"))
    assert response.status_code == 302
    assert SyncConfiguration.objects.get().contacts_ownership == "all"


@pytest.mark.parametrize(
    ("days", "message"),
    [
        ("181", "LAST 181 DAYS is out of range: choose from 1 to 180 days."),
        ("0", "LAST 0 DAYS is out of range: choose from 1 to 180 days."),
        ("", "LAST N DAYS needs a whole number of days from 1 to 180."),
        ("ten", "LAST N DAYS needs a whole number of days from 1 to 180."),
    ],
)
def test_it_puts_date_filter_errors_next_to_n(admin_client, days, message):
    response = admin_client.post(ADD, form_data(date_filter="LAST_N_DAYS", date_filter_days=days))
    assert errors_of(response, "date_filter_days") == [message]
    assert message in response.content.decode()


def test_it_puts_filter_errors_on_their_row(admin_client):
    response = admin_client.post(
        ADD,
        form_data(
            **{
                "filters-field": ["mailing_state", "birthdate"],
                "filters-operator": ["equals", "less_than"],
                "filters-value": ["CA", "yesterday"],
            }
        ),
    )
    assert errors_of(response, "filters") == [
        "Filter 2: Birthdate compares with dates: enter “yesterday” as YYYY-MM-DD."
    ]
    html = response.content.decode()
    assert 'class="ls-filter-row errors"' in html
    assert 'value="yesterday"' in html  # the admin's input is kept


EVENTS_SYNC_SCOPE = (
    "Events sync one way, from each rep's default Exchange calendar to the CRM. With "
    "“Sync only events reps select”, a rep selects an event by giving it the selection "
    "category named in Lightning Sync Setup, in any Outlook, web or mobile client."
)


def events_section(html: str) -> str:
    start = html.index('class="fieldset-heading">Events</h2>')
    return html[start : html.index("</fieldset>", start)]


def test_it_says_what_events_sync_and_how_reps_select_them(client, persona):
    config = SyncConfigurationFactory(name="West reps", events_direction="exchange_to_crm")
    client.force_login(persona("admin"))
    for url in (ADD, change_url(config)):
        html = client.get(url).content.decode()
        assert EVENTS_SYNC_SCOPE in unescape(events_section(html))
        assert "not synced yet" not in html
        assert 'name="events_direction"' in events_section(html)
    listing = unescape(client.get(LIST).content.decode())
    assert "not synced yet" not in listing and 'id="events-not-synced"' not in listing
    client.force_login(persona("viewer"))  # the read-only page says it too
    html = client.get(change_url(config)).content.decode()
    assert EVENTS_SYNC_SCOPE in unescape(events_section(html))
    assert "Exchange to CRM" in events_section(html)


def test_it_never_shows_one_admins_filter_errors_on_another_admins_page(client, persona):
    """Each form has its own row errors: nothing is left behind for the next request."""
    config = SyncConfigurationFactory(name="East reps")
    ContactFilter.objects.create(
        configuration=config, field="birthdate", operator="less_than", value="2000-01-01"
    )
    first, second = persona("admin"), persona("config_manager")
    client.force_login(first)
    refused = client.post(
        ADD,
        form_data(
            **{
                "filters-field": ["birthdate"],
                "filters-operator": ["less_than"],
                "filters-value": ["yesterday"],
            }
        ),
    )
    message = "Birthdate compares with dates: enter “yesterday” as YYYY-MM-DD."
    assert message in refused.content.decode()

    client.force_login(second)
    for response in (client.get(change_url(config)), client.get(ADD)):
        html = response.content.decode()
        assert response.status_code == 200
        assert "yesterday" not in html
        assert 'class="ls-filter-row errors"' not in html
    # Her own mistake on the same row shows only her own message.
    response = client.post(
        change_url(config),
        form_data(
            name="East reps",
            **{
                "filters-field": ["birthdate"],
                "filters-operator": ["less_than"],
                "filters-value": ["soon"],
            },
        ),
    )
    html = response.content.decode()
    assert errors_of(response, "filters") == [
        "Filter 1: Birthdate compares with dates: enter “soon” as YYYY-MM-DD."
    ]
    assert "yesterday" not in html and html.count("Birthdate compares with dates") == 2


def test_it_puts_mapping_and_profile_errors_next_to_their_fields(admin_client):
    sales = ProfileFactory(name="Sales")
    SyncConfigurationFactory(name="East reps", profiles=[sales])
    SyncConfigurationFactory(name="North reps")
    response = admin_client.post(
        ADD,
        form_data(
            name="north REPS",
            profiles=[sales.pk],
            **{"contact_field_mappings-mobile_phone": "BusinessPhone"},
        ),
    )
    assert errors_of(response, "name") == [
        "A configuration named “North reps” already exists; choose another name."
    ]
    assert errors_of(response, "profiles") == [
        "A profile can be in one sync configuration only; remove it from the other first: "
        "Sales (in “East reps”)."
    ]
    assert errors_of(response, "contact_field_mappings") == [
        "Exchange field Business phone (BusinessPhone) is mapped twice: from Phone and from Mobile."
    ]


def test_it_shows_the_change_page_in_a_constant_number_of_queries(admin_client):
    def build(n: int) -> SyncConfiguration:
        config = SyncConfigurationFactory(
            users=[UserFactory() for _ in range(n)], profiles=[ProfileFactory() for _ in range(n)]
        )
        for i in range(n):
            ContactFilter.objects.create(
                configuration=config, position=i, field="title", operator="equals", value=str(i)
            )
        return config

    small, large = build(1), build(6)
    admin_client.get(change_url(small))
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(change_url(small)).status_code == 200
    with CaptureQueriesContext(connection) as many:
        assert admin_client.get(change_url(large)).status_code == 200
    assert len(many) == len(few)


def test_it_deletes_through_the_service_with_an_audit_entry(admin_client):
    config = SyncConfigurationFactory(name="West reps", users=[UserFactory()])
    assert admin_client.get(delete_url(config)).status_code == 200
    response = admin_client.post(delete_url(config), {"post": "yes"})
    assert response.status_code == 302
    assert not SyncConfiguration.objects.exists()
    assert SetupAuditTrail.objects.filter(
        section="Sync configuration “West reps”",
        action="Deleted sync configuration (1 user, 0 profiles) (Setup page)",
    ).exists()


def test_it_deletes_several_with_the_list_action(admin_client):
    a, b = SyncConfigurationFactory(), SyncConfigurationFactory()
    response = admin_client.post(
        LIST,
        {"action": "delete_selected", "_selected_action": [a.pk, b.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not SyncConfiguration.objects.exists()
    assert SetupAuditTrail.objects.filter(action__startswith="Deleted").count() == 2


def test_it_shows_a_read_only_page_to_a_viewer(client, persona):
    client.force_login(persona("viewer"))
    config = SyncConfigurationFactory(name="West reps", event_date_filter="LAST_N_DAYS:30")
    ContactFilter.objects.create(
        configuration=config, field="mailing_state", operator="equals", value="CA"
    )
    response = client.get(change_url(config))
    assert response.status_code == 200
    html = response.content.decode()
    assert "LAST 30 DAYS" in html
    assert "Mailing State/Province equals “CA”" in html
    assert 'name="name"' not in html
