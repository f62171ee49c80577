"""Meeting responses (accept, tentative, decline, cancel, remove) answer as Exchange does."""

from __future__ import annotations

import datetime as dt

import pytest
from exchangelib import EWSDateTime, EWSTimeZone
from exchangelib.errors import (
    ErrorCalendarIsNotOrganizer,
    ErrorCalendarIsOrganizerForAccept,
    ErrorCalendarIsOrganizerForDecline,
    ErrorCalendarIsOrganizerForTentative,
    ErrorInvalidItemForOperationAcceptItem,
    ErrorInvalidItemForOperationCancelItem,
    ErrorInvalidItemForOperationCreateItem,
    ErrorInvalidItemForOperationRemoveItem,
)
from exchangelib.items import (
    AcceptItem,
    CalendarItem,
    CancelCalendarItem,
    Contact,
    MeetingRequest,
)
from exchangelib.properties import ReferenceItemId

from .conftest import ALICE, BOB

UTC = EWSTimeZone("UTC")


class RemoveItem(CancelCalendarItem):
    """t:RemoveItem (exchangelib has no class for it): a ReferenceItemId and nothing else."""

    ELEMENT_NAME = "RemoveItem"


def _own_meeting(account):
    ev = CalendarItem(
        folder=account.calendar,
        subject="Mine",
        start=EWSDateTime(2025, 7, 1, 9, tzinfo=UTC),
        end=EWSDateTime(2025, 7, 1, 10, tzinfo=UTC),
        required_attendees=[BOB],
    )
    ev.save()
    return ev


def _invitation(sim, subject="Bob's review"):
    """A meeting Bob organised, as it sits in Alice's calendar."""
    eid = sim.sim.create_event(
        ALICE,
        Subject=subject,
        Start=dt.datetime(2025, 7, 2, 9, tzinfo=dt.UTC),
        End=dt.datetime(2025, 7, 2, 10, tzinfo=dt.UTC),
        Organizer={"Name": "Bob Rep", "EmailAddress": BOB},
        RequiredAttendees=[ALICE],
    )
    return eid


@pytest.mark.parametrize(
    "answer,error",
    [
        ("accept", ErrorCalendarIsOrganizerForAccept),
        ("tentatively_accept", ErrorCalendarIsOrganizerForTentative),
        ("decline", ErrorCalendarIsOrganizerForDecline),
    ],
)
def test_the_organizer_cannot_answer_their_own_meeting(alice, sim, answer, error):
    ev = _own_meeting(alice)
    with pytest.raises(error):
        getattr(ev, answer)()
    assert alice.calendar.get(id=ev.id).my_response_type == "Organizer"


def test_an_attendee_accepts_or_declines_an_invitation(alice, sim):
    accepted, declined = _invitation(sim, "Accepted"), _invitation(sim, "Declined")
    first = alice.calendar.get(id=accepted)
    assert first.my_response_type == "NoResponseReceived"
    first.tentatively_accept()
    assert alice.calendar.get(id=accepted).my_response_type == "Tentative"
    alice.calendar.get(id=accepted).accept()
    assert alice.calendar.get(id=accepted).my_response_type == "Accept"
    alice.calendar.get(id=declined).decline()
    # A declined meeting leaves the calendar for Deleted Items, as in Exchange.
    assert [i["Subject"] for i in sim.sim.items(ALICE, "calendar")] == ["Accepted"]
    assert [i["Subject"] for i in sim.sim.items(ALICE, "deleteditems")] == ["Declined"]


def test_only_calendar_items_take_meeting_responses(alice, sim):
    c = Contact(folder=alice.contacts, display_name="Not a meeting")
    c.save()
    ref = ReferenceItemId(id=c.id, changekey=c.changekey)
    with pytest.raises(ErrorInvalidItemForOperationAcceptItem):
        AcceptItem(account=alice, reference_item_id=ref).send()
    with pytest.raises(ErrorInvalidItemForOperationCancelItem):
        CancelCalendarItem(account=alice, reference_item_id=ref).send()
    # RemoveItem takes only a meeting cancellation, and there is none here.
    eid = _invitation(sim)
    got = alice.calendar.get(id=eid)
    with pytest.raises(ErrorInvalidItemForOperationRemoveItem):
        RemoveItem(
            account=alice, reference_item_id=ReferenceItemId(id=eid, changekey=got.changekey)
        ).send()
    assert [i["Subject"] for i in sim.sim.items(ALICE, "calendar")] == ["Bob's review"]


def test_only_the_organizer_cancels_a_meeting(alice, sim):
    invitation = alice.calendar.get(id=_invitation(sim))
    with pytest.raises(ErrorCalendarIsNotOrganizer):
        invitation.cancel()
    mine = _own_meeting(alice)
    mine.cancel()
    assert [i["Subject"] for i in sim.sim.items(ALICE, "calendar")] == ["Bob's review"]


def test_meeting_messages_cannot_be_created(alice, sim):
    with pytest.raises(ErrorInvalidItemForOperationCreateItem):
        alice.bulk_create(
            folder=alice.inbox,
            items=[
                MeetingRequest(
                    subject="Forged",
                    start=EWSDateTime(2025, 7, 3, 9, tzinfo=UTC),
                    end=EWSDateTime(2025, 7, 3, 10, tzinfo=UTC),
                )
            ],
        )
    assert sim.sim.items(ALICE, "inbox") == []
