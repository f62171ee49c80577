"""Lengths Exchange refuses or cuts (exchangesim/limits.py gives the basis).

exchangelib refuses more than 255 code points in these properties itself, so what reaches
the server past Exchange's limits is text outside the Basic Multilingual Plane: each such
character is two UTF-16 code units, and Exchange counts code units.
"""

from __future__ import annotations

import pytest
from exchangelib import EWSDateTime, EWSTimeZone
from exchangelib.errors import ErrorPropertyUpdate, ResponseMessageError
from exchangelib.items import CalendarItem, Contact
from exchangelib.services import CreateItem

from .conftest import ALICE

UTC = EWSTimeZone("UTC")
GRIN = "\U0001f600"  # one code point, two UTF-16 code units


class PerItemCreate(CreateItem):
    """CreateItem answering every item's error in place, as the sync engine reads it."""

    ERRORS_TO_CATCH_IN_RESPONSE = (ResponseMessageError,)


def test_a_name_part_past_256_code_units_is_refused_on_create(alice, sim):
    fits = "a" * 254 + GRIN  # 256 code units
    items = [
        Contact(account=alice, display_name="Too long", given_name=GRIN * 129),  # 258
        Contact(account=alice, display_name="Fits", given_name=fits),
        Contact(account=alice, display_name="Long middle", middle_name="b" * 253 + GRIN * 2),
        Contact(account=alice, display_name="Long surname", surname=GRIN * 200),
    ]
    res = list(
        PerItemCreate(account=alice).call(
            items=items,
            folder=alice.contacts,
            message_disposition="SaveOnly",
            send_meeting_invitations="SendToNone",
        )
    )
    assert [type(r).__name__ for r in res] == [
        "ErrorItemSavePropertyError",
        "BulkCreateResult",  # the others in the same request are created
        "ErrorItemSavePropertyError",
        "ErrorItemSavePropertyError",
    ]
    # exchangelib names the property from the MessageXml Exchange sends with the error.
    assert "contacts:GivenName" in str(res[0]) and "contacts:Surname" in str(res[3])
    assert [(i["DisplayName"], i["GivenName"]) for i in sim.sim.items(ALICE, "contacts")] == [
        ("Fits", fits)
    ]


@pytest.mark.parametrize("name", ["given_name", "middle_name", "surname"])
def test_a_name_part_past_256_code_units_is_refused_on_update(alice, sim, name):
    c = Contact(folder=alice.contacts, display_name="Ann Lee", given_name="Ann", surname="Lee")
    c.save()
    before = sim.sim.item(ALICE, c.id)
    c.job_title = "CFO"
    setattr(c, name, GRIN * 130)
    with pytest.raises(ErrorPropertyUpdate, match="contacts:"):
        c.save(update_fields=["job_title", name])
    # Nothing of the refused request was written, not even the valid property.
    assert sim.sim.item(ALICE, c.id) == before


def test_a_subject_past_255_code_units_is_cut(alice, sim):
    def saved_subject(subject: str) -> str:
        ev = CalendarItem(
            folder=alice.calendar,
            subject=subject,
            start=EWSDateTime(2025, 6, 2, 9, tzinfo=UTC),
            end=EWSDateTime(2025, 6, 2, 10, tzinfo=UTC),
        )
        ev.save()
        return alice.calendar.get(id=ev.id).subject

    assert saved_subject("s" + GRIN * 127) == "s" + GRIN * 127  # exactly 255
    # 400 code units: cut to 255, without leaving half of a character behind.
    assert saved_subject(GRIN * 200) == GRIN * 127
    assert saved_subject("s" * 250 + GRIN * 5) == "s" * 250 + GRIN * 2

    ev = CalendarItem(
        folder=alice.calendar,
        subject="Short",
        start=EWSDateTime(2025, 6, 3, 9, tzinfo=UTC),
        end=EWSDateTime(2025, 6, 3, 10, tzinfo=UTC),
    )
    ev.save()
    ev.subject = GRIN * 150
    ev.save(update_fields=["subject"])
    assert sim.sim.item(ALICE, ev.id)["Subject"] == GRIN * 127


def test_a_rep_in_outlook_is_not_held_to_the_ews_limits(alice, sim):
    """Outlook writes through MAPI: the mailbox can hold a name EWS would refuse, and a
    client reads it back whole."""
    cid = sim.sim.create_contact(ALICE, GivenName=GRIN * 200, Surname="Lee")
    got = alice.contacts.get(id=cid)
    assert got.given_name == GRIN * 200
    # An EWS update is held to the limits for what it writes, not for what the item holds.
    got.job_title = "CFO"
    got.save(update_fields=["job_title"])
    stored = sim.sim.item(ALICE, cid)
    assert (stored["GivenName"], stored["JobTitle"]) == (GRIN * 200, "CFO")
