"""Every Setup page, as every role opens it (SPEC §11): no server error anywhere, and each
role is let in or refused exactly as its permissions say.

Each role starts at the Setup home and at every admin page of every registered model
(list, add, change and delete confirmation of a real object), then follows every link it is
shown. The org is the demo org plus one object of each model the site registers, so every
change page has something to show.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from html import unescape
from urllib.parse import urljoin, urlsplit

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db.models import Model
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django_q.models import OrmQ, Schedule, Task
from django_q.signing import SignedPackage

from lightningsync import configurations
from lightningsync.configurations import ConfigurationSpec, ContactsSpec, FilterSpec
from lightningsync.fieldmaps import CONTACTS
from lightningsync.management.commands.lightningsync_demo import seed_demo_org
from lightningsync.models import Contact, Event, User
from lightningsync.setupservice import apply_setup
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db

# The roles: a superuser, a staff member of each group a migration makes, and staff without one.
ROLES: dict[str, list[str] | None] = {
    "superuser": None,
    "admin": ["Lightning Sync Administrators"],
    "viewer": ["Setup Viewers"],
    "config_manager": ["Exchange Configuration Managers"],
    "reporter": ["Report Users"],
    "nobody": [],
}
MAX_PAGES = 600  # per role: a guard against a crawl that never ends, far above today's count


def org() -> dict[type[Model], Model]:
    """The demo org, plus one object of every model the Setup site registers."""
    seed_demo_org()
    alice = User.objects.get(username="alice")
    configurations.save(
        ConfigurationSpec(
            name="West reps",
            users=(alice.email,),
            contacts=ContactsSpec(
                filters=(FilterSpec("mailing_state", "equals", "CA"),),
                # customised: the title is not synced
                mappings={k: v for k, v in CONTACTS.effective({}).items() if k != "title"},
            ),
        ),
        user=None,
        via="test",
    )
    apply_setup({"service_account": {"username": "svc@demo.example"}}, user=None, via="test")
    event = Event.objects.order_by("pk").first()
    assert event is not None
    event.who_contact = Contact.objects.order_by("pk").first()
    event.save()
    now = timezone.now()
    Schedule.objects.create(name="crawl", func="math.floor", args="1.5")
    for success in (True, False):
        Task.objects.create(
            id=uuid.uuid4().hex,
            name=f"crawl-{success}",
            func="math.floor",
            started=now - dt.timedelta(seconds=2),
            stopped=now,
            success=success,
            result="1" if success else "TypeError: must be real number, not str",
        )
    OrmQ.objects.create(
        key="default",
        payload=SignedPackage.dumps({"id": uuid.uuid4().hex, "name": "queued", "func": "f"}),
        lock=now,
    )
    one_of_each = {}
    for model in admin.site._registry:
        obj = model._default_manager.order_by("pk").first()
        assert obj is not None, f"the crawl's org has no {model._meta.label} to open"
        one_of_each[model] = obj
    return one_of_each


def model_pages(objects: dict[type[Model], Model]) -> list[str]:
    """Every admin page of every registered model, on a real object where one is needed."""
    urls = []
    for model, obj in objects.items():
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        for view, args in (
            ("changelist", ()),
            ("add", ()),
            ("change", (obj.pk,)),
            ("delete", (obj.pk,)),
            ("history", (obj.pk,)),
        ):
            try:
                urls.append(reverse(f"{prefix}_{view}", args=args))
            except NoReverseMatch:
                continue
    return urls


@dataclass
class Crawl:
    status: dict[str, int] = field(default_factory=dict)
    # url -> the page that linked to it (absent for the starting pages)
    linked_from: dict[str, str] = field(default_factory=dict)
    # pages seen per URL shape (ids replaced): every kind of page, not every contact's
    shapes: dict[str, int] = field(default_factory=dict)


HREF = re.compile(r'href="([^"]*)"')
OBJECT_ID = re.compile(r"/\d+/")
PER_SHAPE = 3


def crawl(client: Client, start: list[str]) -> Crawl:
    result = Crawl()
    todo = list(reversed(start))
    while todo and len(result.status) < MAX_PAGES:
        url = todo.pop()
        if url in result.status:
            continue
        response = client.get(url)
        result.status[url] = response.status_code
        if response.status_code in (301, 302):
            _enqueue(result, todo, url, urljoin(url, response["Location"]))
        elif response.status_code == 200 and "html" in response.get("Content-Type", ""):
            for href in HREF.findall(response.content.decode()):
                _enqueue(result, todo, url, urljoin(url, unescape(href)))
    assert not todo, f"the crawl stopped at {MAX_PAGES} pages"
    return result


def _enqueue(result: Crawl, todo: list[str], page: str, target: str) -> None:
    parts = urlsplit(target)
    if parts.netloc not in ("", "testserver") or not parts.path.startswith("/admin/"):
        return  # static files, the admin consent page at Microsoft, ...
    if parts.path.endswith("/logout/"):
        return
    url = parts.path  # list filters and sort orders re-render the same page
    shape = OBJECT_ID.sub("/N/", url)
    if url not in result.status and url not in result.linked_from:
        if result.shapes.get(shape, 0) >= PER_SHAPE:
            return
        result.shapes[shape] = result.shapes.get(shape, 0) + 1
        result.linked_from[url] = page
        todo.append(url)


def sign_in(client: Client, role: str) -> User:
    groups = ROLES[role]
    if groups is None:
        user = User.objects.create_superuser("crawl-super", "crawl-super@example.com", "x")
    else:
        user = StaffUserFactory(username=f"crawl-{role}", groups=groups)
        assert list(user.groups.values_list("name", flat=True)) == groups
    client.force_login(user)
    return user


def test_the_roles_cover_every_group_a_migration_makes():
    made = set(Group.objects.values_list("name", flat=True))
    assert made == {name for groups in ROLES.values() if groups for name in groups}


# --- what each role may open ------------------------------------------------------------------

S, A, V, C, R, N = ROLES  # superuser, admin, viewer, config_manager, reporter, nobody
EVERYONE = (S, A, V, C, R, N)
SETUP_READERS = (S, A, V, C)


# (page, roles let in); every other role is refused with 403. A model page's object
# argument is the crawl org's object of that model.
KEY_PAGES: list[tuple[str, tuple[str, ...]]] = [
    ("admin:index", EVERYONE),
    ("admin:password_change", EVERYONE),
    ("admin:lightningsync_setup", SETUP_READERS),
    ("admin:lightningsync_status", SETUP_READERS),
    ("admin:lightningsync_config_download", SETUP_READERS),
    ("admin:lightningsync_config_upload", (S, A)),
    ("admin:lightningsync_syncconfiguration_changelist", SETUP_READERS),
    ("admin:lightningsync_syncconfiguration_add", (S, A, C)),
    ("admin:lightningsync_syncconfiguration_change", SETUP_READERS),
    ("admin:lightningsync_syncconfiguration_delete", (S, A, C)),
    ("admin:lightningsync_setupaudittrail_changelist", SETUP_READERS),
    ("admin:lightningsync_setupaudittrail_change", SETUP_READERS),
    ("admin:lightningsync_setupaudittrail_add", ()),
    ("admin:lightningsync_setupaudittrail_delete", ()),
    ("admin:lightningsync_user_changelist", SETUP_READERS),
    ("admin:lightningsync_user_change", SETUP_READERS),
    ("admin:lightningsync_user_add", (S,)),
    ("admin:lightningsync_profile_changelist", SETUP_READERS),
    ("admin:lightningsync_account_changelist", SETUP_READERS),
    ("admin:lightningsync_contact_changelist", SETUP_READERS),
    ("admin:lightningsync_contact_change", SETUP_READERS),
    ("admin:lightningsync_contact_add", (S,)),
    ("admin:lightningsync_contact_delete", (S,)),
    ("admin:lightningsync_lead_changelist", SETUP_READERS),
    ("admin:lightningsync_event_changelist", SETUP_READERS),
    ("admin:lightningsync_event_change", SETUP_READERS),
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
