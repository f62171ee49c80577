"""Meeting response objects sent through CreateItem (MS-OXWSMTGS): accept, decline, cancel.

A rep answers an invitation in their calendar (AcceptItem, TentativelyAcceptItem,
DeclineItem), an organizer cancels a meeting (CancelCalendarItem), or an attendee removes a
cancelled meeting (RemoveItem, which only a meeting cancellation message can be the target
of). The refusals use the codes Exchange gives for each case (MS-OXWSCDATA ResponseCodeType).
Response and cancellation messages are not modelled: the calendar changes, no mail is sent.
"""

from __future__ import annotations

from lxml import etree

from .ewsbase import Context, Occurrence, lookup
from .schema import EVENT
from .soap import T, local
from .store import Item, SchemaViolation, SimError

# element -> (MyResponseType it records, code for a target that is not a calendar item,
#             code when the mailbox is the meeting's organizer)
REPLIES = {
    "AcceptItem": (
        "Accept",
        "ErrorInvalidItemForOperationAcceptItem",
        "ErrorCalendarIsOrganizerForAccept",
    ),
    "TentativelyAcceptItem": (
        "Tentative",
        "ErrorInvalidItemForOperationTentative",
        "ErrorCalendarIsOrganizerForTentative",
    ),
    "DeclineItem": (
        "Decline",
        "ErrorInvalidItemForOperationDeclineItem",
        "ErrorCalendarIsOrganizerForDecline",
    ),
}
RESPONSE_OBJECTS = (*REPLIES, "CancelCalendarItem", "RemoveItem")


def _target(ctx: Context, elem: etree._Element) -> Item | Occurrence:
    ref = elem.find(T + "ReferenceItemId")
    if ref is None:
        raise SchemaViolation(f"The element '{local(elem.tag)}' has incomplete content.")
    return lookup(ctx, ref)


def _is_organizer(ctx: Context, master: Item) -> bool:
    organizer = (master.fields.get("Organizer") or {}).get("EmailAddress", "")
    return organizer.lower() == ctx.mailbox.smtp.lower()


def _remove(ctx: Context, target: Item | Occurrence) -> None:
    """Take a declined or cancelled meeting (or one occurrence of it) off the calendar."""
    mbx = ctx.mailbox
    if isinstance(target, Occurrence):
        target.master.deleted_occurrences.append(target.original_start)
        target.master.exceptions.pop(target.original_start, None)
        ctx.store.touch(mbx, target.master, {"DeletedOccurrences"})
    else:
        ctx.store.move_item(mbx, target, mbx.folder("deleteditems"))


def respond(ctx: Context, elem: etree._Element) -> None:
    kind = local(elem.tag)
    target = _target(ctx, elem)
    master = target.master if isinstance(target, Occurrence) else target
    if kind == "RemoveItem":
        raise SimError(
            "ErrorInvalidItemForOperationRemoveItem",
            "RemoveItem applies to meeting cancellations only.",
        )
    if kind == "CancelCalendarItem":
        if master.type != EVENT:
            raise SimError(
                "ErrorInvalidItemForOperationCancelItem", "Only calendar items can be cancelled."
            )
        if not _is_organizer(ctx, master):
            raise SimError(
                "ErrorCalendarIsNotOrganizer", "Only the organizer can cancel a meeting."
            )
        _remove(ctx, target)
        return
    answer, not_calendar, organizer = REPLIES[kind]
    in_trash = master.folder == ctx.mailbox.distinguished["deleteditems"]
    if master.type != EVENT or in_trash:
        raise SimError(not_calendar, f"{kind} applies to meeting requests and calendar items.")
    if _is_organizer(ctx, master):
        raise SimError(organizer, "The organizer cannot respond to their own meeting.")
    if answer == "Decline":
        _remove(ctx, target)
    elif isinstance(target, Occurrence):
        master.exceptions.setdefault(target.original_start, {})["MyResponseType"] = answer
        ctx.store.touch(ctx.mailbox, master, {"Exceptions"})
    else:
        ctx.store.apply_changes(ctx.mailbox, master, [("set", ("MyResponseType",), answer)])
