"""Every Setup page, as every role opens it (SPEC §11): no server error anywhere, and each
role is let in or refused exactly as its permissions say.

Each role starts at the Setup home and at every admin page of every registered model
(list, add, change and delete confirmation of a real object), then follows every link it is
shown. The org is the demo org plus one object of each model the site registers, so every
change page has something to show.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from tests.setup_pages import ROLES, crawl, model_pages, org, sign_in

pytestmark = pytest.mark.django_db


def test_the_roles_cover_every_group_a_migration_makes():
    made = set(Group.objects.values_list("name", flat=True))
    assert made == {name for groups in ROLES.values() if groups for name in groups}


# --- what each role may open ------------------------------------------------------------------

S, A, V, C, R, SR, N = ROLES  # superuser, admin, viewer, config_manager, reporter, sales, nobody
EVERYONE = (S, A, V, C, R, SR, N)
SETUP_READERS = (S, A, V, C)
RECORD_READERS = (*SETUP_READERS, SR)  # CRM records: Setup readers, and the reps who own them
RECORD_EDITORS = (S, SR)


# (page, roles let in); every other role is refused with 403. A model page's object
# argument is the crawl org's object of that model.
KEY_PAGES: list[tuple[str, tuple[str, ...]]] = [
    ("admin:index", EVERYONE),
    ("admin:password_change", EVERYONE),
    ("admin:lightningsync_setup", SETUP_READERS),
    ("admin:lightningsync_status", SETUP_READERS),
    ("admin:lightningsync_lightningsyncerror_changelist", (S, A, R)),
    ("admin:lightningsync_lightningsyncerror_export", (S, A, R)),
    ("admin:lightningsync_config_download", SETUP_READERS),
    ("admin:lightningsync_config_upload", (S, A)),
    ("admin:lightningsync_connection_test", (S, A)),
    ("admin:lightningsync_syncconfiguration_changelist", SETUP_READERS),
    ("admin:lightningsync_syncconfiguration_add", (S, A, C)),
    ("admin:lightningsync_syncconfiguration_change", SETUP_READERS),
    ("admin:lightningsync_syncconfiguration_delete", (S, A, C)),
    ("admin:lightningsync_setupaudittrail_changelist", SETUP_READERS),
    ("admin:lightningsync_setupaudittrail_change", SETUP_READERS),
    ("admin:lightningsync_setupaudittrail_add", ()),
    ("admin:lightningsync_setupaudittrail_delete", ()),
    ("admin:lightningsync_user_changelist", RECORD_READERS),
    ("admin:lightningsync_user_change", RECORD_READERS),
    ("admin:lightningsync_user_add", (S,)),
    ("admin:lightningsync_profile_changelist", RECORD_READERS),
    ("admin:lightningsync_account_changelist", RECORD_READERS),
    ("admin:lightningsync_contact_changelist", RECORD_READERS),
    ("admin:lightningsync_contact_change", RECORD_READERS),
    ("admin:lightningsync_contact_add", RECORD_EDITORS),
    ("admin:lightningsync_contact_delete", RECORD_EDITORS),
    ("admin:lightningsync_account_add", RECORD_EDITORS),
    ("admin:lightningsync_lead_add", RECORD_EDITORS),
    ("admin:lightningsync_event_add", RECORD_EDITORS),
    ("admin:lightningsync_event_delete", RECORD_EDITORS),
    ("admin:lightningsync_lead_changelist", RECORD_READERS),
    ("admin:lightningsync_event_changelist", RECORD_READERS),
    ("admin:lightningsync_event_change", RECORD_READERS),
    ("admin:auth_group_changelist", (S,)),
    ("admin:auth_group_change", (S,)),
    ("admin:django_q_schedule_changelist", (S,)),
    ("admin:django_q_success_changelist", (S,)),
    ("admin:django_q_failure_change", (S,)),
    ("admin:django_q_ormq_changelist", (S,)),
]


def key_page_url(name: str, objects: dict[type[Model], Model]) -> str:
    for model, obj in objects.items():
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}_"
        if name.startswith(prefix) and name.endswith(("_change", "_delete")):
            return reverse(name, args=[obj.pk])
    return reverse(name)


@pytest.mark.parametrize("role", ROLES)
def test_every_role_opens_every_page_it_may_and_no_page_fails(role):
    objects = org()
    client = Client(raise_request_exception=False)
    sign_in(client, role)
    key_urls = {name: key_page_url(name, objects) for name, _ in KEY_PAGES}
    found = crawl(client, [reverse("admin:index"), *model_pages(objects), *key_urls.values()])

    server_errors = {url: code for url, code in found.status.items() if code >= 500}
    assert server_errors == {}

    expected = {name: 200 if role in allowed else 403 for name, allowed in KEY_PAGES}
    answered = {name: found.status[url] for name, url in key_urls.items()}
    assert answered == expected

    # Pages only offer links the role may follow (a refusal is never one click away) ...
    refused_links = {
        url: (code, found.linked_from[url])
        for url, code in found.status.items()
        if code not in (200, 302) and url in found.linked_from
    }
    assert refused_links == {}
    # ... and every entry of the role's Setup menu opens.
    home = client.get(reverse("admin:index"))
    menu_urls = [e.url for s in home.context["setup_menu"] for g in s.groups for e in g.entries]
    assert {url: found.status[url] for url in menu_urls} == dict.fromkeys(menu_urls, 200)
    if role in (S, A):
        assert len(menu_urls) >= 10  # the whole menu (the superuser also sees Platform Tools)
    if role == N:
        assert menu_urls == []
    # The connection test's result pages, reached through its list of recent tests.
    run_pages = [url for url in found.status if "/connection-test/" in url and url.count("/") > 5]
    assert bool(run_pages) == (role in (S, A))
    assert {url: found.status[url] for url in run_pages} == dict.fromkeys(run_pages, 200)
