"""SPEC §4: which CRM contacts a push examines, read part by part (`contacts.examined`), is
exactly the set the rule names: changed since the watermark (itself or its account), or
refused by Exchange and due for another try; and linked to the user or in the
configuration's scope (everything with no watermark). Checked against that rule written as
one query, for each direction and scope, with pages small enough that the union's first page
and the merged parts after it both take part."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from lightningsync.models import (
    Account,
    Contact,
    ContactLink,
    LightningSyncError,
    User,
    UserSyncState,
)
from syncengine.contacts.examined import examined_keys
from syncengine.contacts.state import ContactCycle
from syncengine.errorlog import ErrorLog
from syncengine.mapping.merge import Mode, Policy
from syncengine.transports.memory import MemoryTransport
from tests.factories import SyncConfigurationFactory, UserFactory

NOW = timezone.now()
WATERMARK = NOW - dt.timedelta(hours=1)
OLD = NOW - dt.timedelta(days=2)


def by_the_rule(user: User, mode: Mode, scope: Q | None, watermark: dt.datetime | None
                ) -> list[int]:
    linked = Exists(ContactLink.objects.filter(user=user, contact=OuterRef("pk")))
    qs = Contact.objects.all()
    if watermark is not None:
        refused = LightningSyncError.objects.filter(
            user=user, kind="item_rejected", resolved=False, next_try_at__lte=NOW,
            contact__isnull=False).values("contact_id")
        qs = qs.filter(Q(updated_at__gte=watermark) | Q(account__updated_at__gte=watermark)
                       | Q(pk__in=refused))
    if mode == Mode.EXCHANGE_TO_CRM:
        qs = qs.filter(linked)
    elif scope is not None:
        qs = qs.filter(Q(linked) | scope)
    return sorted(qs.values_list("pk", flat=True))


@pytest.fixture
def world(db):  # type: ignore[no-untyped-def]
    rep, other = UserFactory(username="rep"), UserFactory(username="other")
    fresh, stale = Account.objects.create(name="Fresh"), Account.objects.create(name="Stale")
    n = 0
    for owner in (rep, other):
        for changed in (True, False):
            for account in (None, fresh, stale):
                for title in ("Buyer", "Clerk"):
                    for link in (None, "active", "detached"):
                        n += 1
                        c = Contact.objects.create(owner=owner, last_name=f"C{n}",
                                                   account=account, title=title)
                        Contact.objects.filter(pk=c.pk).update(
                            updated_at=NOW if changed else OLD)
                        if link:
                            ContactLink.objects.create(
                                user=rep, contact=c, state=link, origin="crm",
                                exchange_id=f"item-{n}" if link == "active" else None)
                        if n % 7 == 0:
                            LightningSyncError.objects.create(
                                user=rep, direction="crm_to_exchange", kind="item_rejected",
                                contact=c, message="Refused.", first_occurred_at=NOW,
                                last_occurred_at=NOW, fingerprint=f"r{n}",
                                next_try_at=NOW - dt.timedelta(minutes=1) if n % 2 else NOW
                                + dt.timedelta(days=1))
    Account.objects.filter(pk=stale.pk).update(updated_at=OLD)
    Account.objects.filter(pk=fresh.pk).update(updated_at=NOW)
    return rep


SCOPES = {
    "the user's records": lambda rep: Q(owner=rep),
    "the user's buyers": lambda rep: Q(owner=rep) & Q(title__iexact="Buyer"),
    "every contact": lambda rep: None,
    "every buyer": lambda rep: Q(title__iexact="Buyer"),
    # Through the account, and a LIKE pattern (a literal % in neither the SQL nor its params).
    "the user's in a fresh account": lambda rep: Q(owner=rep) & Q(account__name__iexact="Fresh"),
    "every contact named with a 1": lambda rep: Q(last_name__icontains="1"),
}


@pytest.mark.parametrize("mode", [Mode.BOTH, Mode.EXCHANGE_TO_CRM, Mode.CRM_TO_EXCHANGE])
@pytest.mark.parametrize("scope_name", SCOPES)
@pytest.mark.parametrize("watermark", [WATERMARK, None], ids=["since", "all"])
def test_the_parts_make_exactly_the_set_the_rule_names(world, mode, scope_name, watermark
                                                      ) -> None:  # type: ignore[no-untyped-def]
    rep = world
    scope = SCOPES[scope_name](rep)
    state = UserSyncState.objects.create(user=rep, contacts_crm_watermark=watermark)
    cycle = ContactCycle(
        user=rep, config=SyncConfigurationFactory(), state=state, org_id="org",
        transport=MemoryTransport(), errors=ErrorLog(rep), checkpoint=lambda step: None,
        ensure_claimed=lambda: None, progress=lambda what, n: None, page_size=512,
        limit=50_000, mode=mode, policy=Policy.CRM_WINS, mapping={}, fields=[], scope=scope,
        started=NOW)
    expected = by_the_rule(rep, mode, scope, watermark)
    assert expected  # the world has some of each
    for page in (3, 1000):
        assert list(examined_keys(cycle, page)) == expected
