"""Whatever a rep can type into Outlook survives the sync, both ways, through the real wire.

Hypothesis generates contacts with odd values (XML specials, CR/LF, tabs, blanks, emoji and
other non-BMP characters, strings longer than the CRM columns, missing fields, extreme
birthdays), the rep creates them in the simulated mailbox, and the engine syncs through
exchangelib. After each sync: the CRM holds the normalized Exchange values, nothing was
reported but an unknown company, and another sync writes nothing on either side. Then a CRM
user types an odd value and it arrives in Exchange as typed (normalized).
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from lightningsync.fieldmaps import DEFAULT_CONTACT_MAPPING
from lightningsync.models import Contact, ContactLink, LightningSyncError
from syncengine.mapping import contacts as mapping
from syncengine.transports.protocol import Address

from .ews_fixtures import EwsWorld, ews_fixture  # noqa: F401  (fixture)
from .ews_rep import SYNC_FOLDER, SimRep

MAPPING = DEFAULT_CONTACT_MAPPING
_users = itertools.count()

# Characters XML 1.0 can carry (Exchange stores nothing else), weighted towards trouble.
_odd = st.sampled_from(["&", "<", ">", '"', "'", "]]>", "\r\n", "\r", "\n", "\t", "  ", "é",
                        "ß", "İ", "😀", "𝄞", "\u00a0", "\u200b", "\ufeff"])
# Cn: unassigned code points and noncharacters (U+FFFE...), which XML cannot carry either.
_plain = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Co", "Cn"))
_piece = st.one_of(_odd, st.text(_plain, min_size=1, max_size=8))
_text = st.one_of(
    st.none(),
    st.just(""),
    st.just("   "),
    st.lists(_piece, min_size=1, max_size=12).map("".join),
    st.text(_plain, min_size=250, max_size=300),  # longer than any CRM column but notes
)
_address = st.one_of(
    st.none(),
    st.builds(Address, street=_text, city=_text, state=_text, postal_code=_text,
              country=_text),
)
_birthday = st.one_of(st.none(), st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31)))

_TEXT_FIELDS = ("GivenName", "Surname", "EmailAddress1", "CompanyName", "JobTitle",
                "Department", "BusinessPhone", "MobilePhone", "HomePhone", "BusinessFax",
                "AssistantName", "Body")
outlook_contacts = st.fixed_dictionaries(
    {**{name: _text for name in _TEXT_FIELDS}, "BusinessAddress": _address,
     "Birthday": _birthday}
).filter(lambda f: any(v not in (None, "") for v in f.values()))


def _new_user(ews: EwsWorld) -> tuple[Any, SimRep]:
    user = ews.add_user(f"odd{next(_users)}")
    return user, SimRep(ews.sim, user.email)


def _sim_item(ews: EwsWorld, mailbox: str, item_id: str) -> dict[str, Any]:
    (item,) = [i for i in ews.sim.items(mailbox, SYNC_FOLDER) if i["id"] == item_id]
    return item


def _assert_quiet(ews: EwsWorld, user: Any) -> None:
    """Another cycle lists, and writes nothing anywhere."""
    ews.sim.reset_counters()
    before = list(Contact.objects.filter(owner=user).values_list("pk", "updated_at"))
    assert ews.sync(user).outcome == "synced"
    assert ews.writes(user.email) == {}
    assert ews.sim.request_count("GetItem", user.email) == 0
    assert list(Contact.objects.filter(owner=user).values_list("pk", "updated_at")) == before


@hypothesis_settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(fields=outlook_contacts, typed=st.tuples(st.sampled_from(sorted(MAPPING)), _text))
def test_odd_values_sync_both_ways_and_settle(ews, settings, fields, typed) -> None:  # type: ignore[no-untyped-def]
    # Each example stands alone: no contact of an earlier one to match (first sight matches
    # any owner's contact by email or name), and cycles run only when the test says so.
    settings.LIGHTNINGSYNC_PUSH_ON_CHANGE = False
    Contact.objects.all().delete()
    user, outlook = _new_user(ews)
    ews.sim.create_folder(user.email, "Salesforce_Sync", parent="contacts")
    item_id = outlook.create({k: v for k, v in fields.items() if v is not None})

    # Exchange → CRM: the CRM holds the normalized values.
    assert ews.sync(user).outcome == "synced"
    (contact,) = Contact.objects.filter(owner=user).select_related("account")
    expected = mapping.exchange_values(fields, MAPPING)
    company = expected.pop("account_name")
    got = mapping.crm_values(contact, MAPPING)
    assert got.pop("account_name") is None and contact.account is None
    assert got == expected
    reported = set(LightningSyncError.objects.filter(user=user).values_list("kind", flat=True))
    assert reported == ({"unresolved_account"} if company else set())
    _assert_quiet(ews, user)

    # CRM → Exchange: a CRM user types an odd value into one field.
    crm_field, value = typed
    if crm_field == "account_name":
        return  # an account is chosen, not typed; resolution has its own tests
    if crm_field == "birthdate":
        value = dt.date(1901, 2, 3) if value is None else None
    elif crm_field == "mailing_address":
        value = None if value is None else {"street": value, "city": value}
    patch = {crm_field: mapping.normalize(crm_field, value)}
    mapping.apply_to_contact(contact, patch)
    contact.save()
    assert ews.sync(user).outcome == "synced"
    contact.refresh_from_db()
    wanted = mapping.crm_values(contact, MAPPING)
    link = ContactLink.objects.get(user=user)
    assert link.exchange_id == item_id
    item = _sim_item(ews, user.email, item_id)
    assert _exchange_values(item)[crm_field] == wanted[crm_field]
    _assert_quiet(ews, user)


def _exchange_values(item: dict[str, Any]) -> dict[str, Any]:
    """A simulator item's mapped values, normalized as the engine compares them."""
    emails = item.get("EmailAddresses") or {}
    phones = item.get("PhoneNumbers") or {}
    business = (item.get("PhysicalAddresses") or {}).get("Business")
    fields: dict[str, Any] = {
        name: item.get(name) for name in ("GivenName", "Surname", "CompanyName", "JobTitle",
                                          "Department", "AssistantName", "Body")
    }
    fields["EmailAddress1"] = emails.get("EmailAddress1")
    for label in ("BusinessPhone", "MobilePhone", "HomePhone", "BusinessFax"):
        fields[label] = phones.get(label)
    fields["BusinessAddress"] = business and Address(
        street=business.get("Street"), city=business.get("City"), state=business.get("State"),
        postal_code=business.get("PostalCode"), country=business.get("CountryOrRegion"),
    )
    birthday = item.get("Birthday")
    fields["Birthday"] = birthday
    return mapping.exchange_values(fields, MAPPING)
