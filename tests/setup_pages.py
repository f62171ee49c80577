"""The Setup site's pages for every role: the org they are crawled in, every admin page of
every registered model, and a crawl that follows every link a role is shown. Shared by the
crawl test (status codes) and the browser suite (layout, accessibility)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from html import unescape
from urllib.parse import urljoin, urlsplit

from django.contrib import admin
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
from lightningsync.models import ConnectionTestRun, Contact, Event, User
from lightningsync.setupservice import apply_setup
from syncengine.errorlog import Direction, Entry, Kind, record_now
from tests.factories import StaffUserFactory

# The roles: a superuser, a staff member of each group a migration makes, and staff without one.
ROLES: dict[str, list[str] | None] = {
    "superuser": None,
    "admin": ["Lightning Sync Administrators"],
    "viewer": ["Setup Viewers"],
    "config_manager": ["Exchange Configuration Managers"],
    "reporter": ["Report Users"],
    "sales": ["Sales Reps"],
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
    # A row of the error report, as a cycle would file it about one of Alice's contacts.
    record_now(alice, Entry(
        Kind.UNRESOLVED_ACCOUNT, Direction.EXCHANGE_TO_CRM,
        "No account is named “Bell Labs”; the contact was saved without an account.",
        "Create the account.", exchange_item_id="AAMkCrawl",
        contact_id=Contact.objects.filter(owner=alice).order_by("pk").values_list(
            "pk", flat=True).first(),
    ))
    now = timezone.now()
    ConnectionTestRun.objects.create(
        email=alice.email, outcome=ConnectionTestRun.Outcome.FAILED, finished_at=timezone.now(),
        steps=[{"key": "enabled", "title": "Lightning Sync enabled", "status": "warning",
                "detail": "Lightning Sync is off.", "suggestion": "Turn it on."},
               {"key": "credentials", "title": "Service account credentials present",
                "status": "fail", "detail": "Setup has no service account password.",
                "suggestion": "Enter it."}],
    )
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
    # the pages that answered 200 with HTML, in the order they were found
    html_pages: list[str] = field(default_factory=list)

    def one_page_per_shape(self) -> list[str]:
        """The HTML pages, one of each kind (the first contact's page, not all three)."""
        seen: set[str] = set()
        kept = []
        for url in self.html_pages:
            shape = page_shape(url)
            if shape not in seen:
                seen.add(shape)
                kept.append(url)
        return kept


HREF = re.compile(r'href="([^"]*)"')
OBJECT_ID = re.compile(r"/\d+/")
RECORD_PAGE = re.compile(r"/[^/]+/(change|delete|history)/$")  # any primary key, uuids too


def page_shape(url: str) -> str:
    """The kind of page a URL opens: /admin/lightningsync/contact/N/change/ for every
    contact's."""
    return RECORD_PAGE.sub(r"/N/\1/", OBJECT_ID.sub("/N/", url))
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
            result.html_pages.append(url)
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
