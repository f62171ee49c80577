"""CRM record pages (SPEC §1): lists with search and filters, at a constant query count."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.factories import (
    AccountFactory,
    ContactFactory,
    EventFactory,
    LeadFactory,
    ProfileFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def changelist(model: str) -> str:
    return reverse(f"admin:lightningsync_{model}_changelist")


def rows(response) -> list:
    return list(response.context["cl"].result_list)


def make_rows(model: str, count: int) -> None:
    owner = UserFactory(profile=ProfileFactory(name="Sales"))
    for _ in range(count):
        if model == "account":
            AccountFactory(owner=owner)
        elif model == "contact":
            ContactFactory(owner=owner)
        elif model == "lead":
            LeadFactory(owner=owner)
        elif model == "event":
            EventFactory(owner=owner, who_contact=ContactFactory(owner=owner))
        elif model == "user":
            UserFactory(profile=ProfileFactory())
        elif model == "profile":
            ProfileFactory()


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as context:
        assert client.get(url).status_code == 200
    return len(context.captured_queries)


@pytest.mark.parametrize("model", ["account", "contact", "lead", "event", "user", "profile"])
def test_it_lists_at_a_constant_number_of_queries(
    admin_client, django_assert_max_num_queries, model
):
    make_rows(model, 2)
    baseline = queries_for(admin_client, changelist(model))
    make_rows(model, 15)
    with django_assert_max_num_queries(baseline):
        response = admin_client.get(changelist(model))
    assert len(rows(response)) >= 17


def test_it_searches_contacts_by_name_email_and_account(admin_client):
    wanted = ContactFactory(last_name="Zebulon", email="z@customer.example")
    ContactFactory(last_name="Other")
    for term in ("zebulon", "z@customer", wanted.account.name):
        response = admin_client.get(changelist("contact"), {"q": term})
        assert rows(response) == [wanted], term


def test_it_filters_contacts_by_owner_and_account(admin_client):
    alice = UserFactory()
    mine = ContactFactory(owner=alice)
    ContactFactory()
    response = admin_client.get(changelist("contact"), {"owner__id__exact": alice.pk})
    assert rows(response) == [mine]
    response = admin_client.get(changelist("contact"), {"account__id__exact": mine.account_id})
    assert rows(response) == [mine]
    text = response.content.decode()
    # Filters are titled by the field's Salesforce label, as Setup's list filters are.
    assert "<summary>Contact Owner: <strong>All</strong></summary>" in text
    assert "<summary>Account Name: <strong>" in text
    assert "By owner" not in text and "By account" not in text


def test_it_shows_the_owner_column(admin_client):
    alice = UserFactory(first_name="Alice", last_name="Nguyen")
    ContactFactory(owner=alice)
    assert "Alice Nguyen" in admin_client.get(changelist("contact")).content.decode()


def test_it_filters_events_by_show_as_and_date(admin_client):
    now = timezone.now().replace(microsecond=0)
    free = EventFactory(show_as="free", start=now, end=now + dt.timedelta(hours=1))
    EventFactory(show_as="busy")
    response = admin_client.get(changelist("event"), {"show_as__exact": "free"})
    assert rows(response) == [free]
    response = admin_client.get(
        changelist("event"),
        {"start__year": now.year, "start__month": now.month, "start__day": now.day},
    )
    assert free in rows(response)


def test_it_searches_events_and_leads(admin_client):
    event = EventFactory(subject="Quarterly review")
    EventFactory(subject="Lunch")
    assert rows(admin_client.get(changelist("event"), {"q": "quarterly"})) == [event]
    lead = LeadFactory(company="Initech")
    LeadFactory(company="Globex")
    assert rows(admin_client.get(changelist("lead"), {"q": "initech"})) == [lead]


def test_it_lists_users_with_their_profile(admin_client):
    user = UserFactory(profile=ProfileFactory(name="Sales Manager"), email="rep@example.com")
    response = admin_client.get(changelist("user"), {"profile__id__exact": user.profile_id})
    assert rows(response) == [user]
    assert "Sales Manager" in response.content.decode()
    assert rows(admin_client.get(changelist("user"), {"q": "sales manager"})) == [user]


def test_it_counts_users_per_profile(admin_client):
    sales = ProfileFactory(name="Sales")
    UserFactory(profile=sales)
    UserFactory(profile=sales)
    response = admin_client.get(changelist("profile"), {"q": "Sales"})
    (row,) = rows(response)
    assert row.user_count == 2


def test_it_counts_contacts_per_account(admin_client):
    account = AccountFactory(name="Acme")
    ContactFactory(account=account)
    response = admin_client.get(changelist("account"), {"q": "acme"})
    (row,) = rows(response)
    assert row.contact_count == 1


def test_it_opens_a_contact_and_an_event(admin_client):
    event = EventFactory(who_contact=ContactFactory())
    for model, pk in (("contact", event.who_contact_id), ("event", event.pk)):
        url = reverse(f"admin:lightningsync_{model}_change", args=[pk])
        assert admin_client.get(url).status_code == 200
