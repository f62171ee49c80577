"""exchangelib's EWS services, reading and writing what the transport needs and no more.

exchangelib turns every response element into a full item object, walking all ~80 fields of a
Contact (and every indexed entry's fields) to fill the dozen we asked for, and parses each
response one byte at a time: measured here, most of the client time of a listing page or a
GetItem chunk. The services below parse a response in one go and read ids, change keys,
stamps and the requested fields straight from its elements; every per-item response code
comes back as an exception instance (one stale change key would otherwise abort its chunk);
updates touch only the indexed labels they are given.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from exchangelib import Contact, services
from exchangelib import errors as ews_errors
from exchangelib.fields import FieldPath, IndexedField
from exchangelib.services.common import folder_ids_element
from exchangelib.util import TNS, add_xml_child, create_element

from ..protocol import EventMeta, ExchangeItem
from .calendar_xml import CALENDAR_ITEM_TAG, read_addresses, read_event_fields, read_meta
from .contact_xml import read_fields_xml, xml_datetime_utc
from .contacts import exchangelib_fields
from .stamps import CRM_FIELD, ORG_FIELD, CrmIdProperty, OrgIdProperty, extended_uri, xml_stamps


class WholeResponse:
    """Parse the SOAP response from its bytes in one go.

    exchangelib hands lxml `response.iter_content()`, which requests yields one byte at a
    time for a response it has already read: measured here, about a third of the client
    time of a 512-change SyncFolderItems page or a 100-contact GetItem went to that loop.
    """

    @classmethod
    def _get_soap_parts(cls, response: Any) -> Any:
        content = getattr(response, "content", None)
        if isinstance(content, bytes):
            response = _Buffered(content)
        return super()._get_soap_parts(response)  # type: ignore[misc]


class _Buffered:
    def __init__(self, content: bytes) -> None:
        self.content = content

    def iter_content(self) -> bytes:
        return self.content  # exchangelib's to_xml() parses bytes with a BytesIO


class PerItemErrors(WholeResponse):
    """Return every per-item response code as an exception instance instead of raising.

    exchangelib raises some codes (ErrorIrresolvableConflict...) for the whole chunk, which
    would lose the results of the other items of the batch.
    """

    ERRORS_TO_CATCH_IN_RESPONSE = (ews_errors.ResponseMessageError,)


class DeleteItem(PerItemErrors, services.DeleteItem):
    pass


_T = f"{{{TNS}}}"
_ITEM_ID = _T + "ItemId"
_CONTACT_TAG = _T + "Contact"
_LAST_MODIFIED = _T + "LastModifiedTime"


class Listed:
    """One SyncFolderItems entry: what `changes()` needs, nothing more."""

    __slots__ = ("changekey", "crm", "event", "id", "is_contact", "org")

    def __init__(
        self,
        is_contact: bool,
        id: str,
        changekey: str | None = None,
        org: str | None = None,
        crm: str | None = None,
        event: EventMeta | None = None,
    ) -> None:
        self.is_contact = is_contact
        self.id = id
        self.changekey = changekey
        self.org = org
        self.crm = crm
        self.event = event  # calendar items: the deciding fields


class SyncFolderItemIds(WholeResponse, services.SyncFolderItems):
    """SyncFolderItems yielding (change type, `Listed` or None for ReadFlagChange)."""

    def _elem_to_obj(self, elem: Any) -> tuple[str, Listed | None]:
        change_type = self.change_types_map[elem.tag]
        if change_type == self.READ_FLAG_CHANGE:
            return change_type, None
        if change_type == self.DELETE:
            return change_type, Listed(False, elem.find(_ITEM_ID).get("Id"))
        item = elem[0]  # Contact, DistributionList, CalendarItem...: the tag says which
        item_id = item.find(_ITEM_ID)
        org, crm = xml_stamps(item)
        event = read_meta(item) if item.tag == CALENDAR_ITEM_TAG else None
        return change_type, Listed(
            item.tag == _CONTACT_TAG, item_id.get("Id"), item_id.get("ChangeKey"), org, crm,
            event,
        )


class CreateContacts(PerItemErrors, services.CreateItem):
    """CreateItem of prebuilt t:Contact elements (`new_contact_elem`), yielding (id, change
    key) per item, or an exception."""

    def get_payload(
        self, items: Any, folder: Any, message_disposition: str, send_meeting_invitations: str
    ) -> Any:
        payload = create_element(
            f"m:{self.SERVICE_NAME}",
            attrs={
                "MessageDisposition": message_disposition,
                "SendMeetingInvitations": send_meeting_invitations,
            },
        )
        payload.append(
            folder_ids_element(
                folders=[folder], version=self.account.version, tag="m:SavedItemFolderId"
            )
        )
        item_elems = create_element("m:Items")
        for elem in items:
            item_elems.append(elem)
        payload.append(item_elems)
        return payload

    def _elem_to_obj(self, elem: Any) -> tuple[str | None, str | None]:
        item_id = None if isinstance(elem, bool) else elem.find(_ITEM_ID)
        if item_id is None:
            return None, None
        return item_id.get("Id"), item_id.get("ChangeKey")


class NotContact:
    """A GetItem result that is some other kind of item (a distribution list...)."""


NOT_CONTACT = NotContact()


class GetContacts(PerItemErrors, services.GetItem):
    """GetItem yielding ExchangeItems with `names` read from the XML (or an exception, or
    `NOT_CONTACT`)."""

    names: Sequence[str] = ()

    def _elem_to_obj(self, elem: Any) -> ExchangeItem | NotContact:
        if elem.tag != _CONTACT_TAG:
            return NOT_CONTACT
        item_id = elem.find(_ITEM_ID)
        org, crm = xml_stamps(elem)
        return ExchangeItem(
            id=item_id.get("Id"),
            change_key=item_id.get("ChangeKey"),
            org_stamp=org,
            crm_stamp=crm,
            last_modified=xml_datetime_utc(elem.findtext(_LAST_MODIFIED)),
            fields=read_fields_xml(elem, self.names),
        )


class NotEvent:
    """A GetItem result of the Calendar that is no calendar item (a meeting message...)."""


NOT_EVENT = NotEvent()


class GetEvents(PerItemErrors, services.GetItem):
    """GetItem yielding ExchangeItems of calendar items, `names` read from the XML (or an
    exception, or `NOT_EVENT`)."""

    names: Sequence[str] = ()

    def _elem_to_obj(self, elem: Any) -> ExchangeItem | NotEvent:
        if elem.tag != CALENDAR_ITEM_TAG:
            return NOT_EVENT
        item_id = elem.find(_ITEM_ID)
        org, crm = xml_stamps(elem)
        return ExchangeItem(
            id=item_id.get("Id"),
            change_key=item_id.get("ChangeKey"),
            org_stamp=org,
            crm_stamp=crm,
            last_modified=xml_datetime_utc(elem.findtext(_LAST_MODIFIED)),
            fields=read_event_fields(elem, self.names),
            addresses=read_addresses(elem),
        )


class GetFolder(WholeResponse, services.GetFolder):
    pass


class FindFolder(WholeResponse, services.FindFolder):
    pass


class CreateFolder(WholeResponse, services.CreateFolder):
    pass


class UpdateContacts(PerItemErrors, services.UpdateItem):
    """UpdateItem that writes only the indexed labels it is given.

    exchangelib's UpdateItem deletes every email/phone/address label absent from the list it
    is given, which would wipe a rep's second phone number when we update the first.
    """

    def _get_value(self, target: Any, field: Any) -> Any:
        if isinstance(field, IndexedField):
            # Entries with empty values mean "clear this label"; exchangelib's clean() would
            # refuse them as missing required values.
            return getattr(target, field.name)
        return super()._get_value(target, field)

    def _set_field_elems(self, target_model: Any, field: Any, value: Any) -> Iterator[Any]:
        if not isinstance(field, IndexedField):
            yield from super()._set_field_elems(target_model, field, value)
            return
        subfields = field.value_cls.supported_fields(version=self.account.version)
        for entry in value:
            for subfield in subfields:
                path = FieldPath(field=field, label=entry.label, subfield=subfield)
                sub_value = getattr(entry, subfield.name)
                if not sub_value:
                    yield self._delete_field_elem(field_path=path)
                else:
                    yield self._set_field_elem(
                        target_model=target_model,
                        field_path=path,
                        value=field.value_cls(**{"label": entry.label, subfield.name: sub_value}),
                    )


class StampItems(PerItemErrors, services.UpdateItem):
    """UpdateItem that sets only our two stamps, the XML built directly from
    (id, change key, org ID, CRM id) tuples: exchangelib builds and validates a Contact per
    item first, which measured here at ~0.7 ms each, most of stamping an import. The XML is
    the one exchangelib writes (tests/engine/test_ews_transport.py compares the two).
    `item_tag` names the items' type (t:Contact, t:CalendarItem), as SetItemField requires."""

    item_tag = "t:Contact"

    def _changes_elem(self, target_changes: Any) -> Any:
        changes = create_element(self.CHANGES_ELEMENT_NAME)
        for (item_id, change_key, org_id, crm_id), _names in target_changes:
            change = create_element(self.CHANGE_ELEMENT_NAME)
            attrs = {"Id": item_id, "ChangeKey": change_key} if change_key else {"Id": item_id}
            change.append(create_element("t:ItemId", attrs=attrs))
            updates = create_element("t:Updates")
            for prop, value in ((CrmIdProperty, crm_id), (OrgIdProperty, org_id)):
                set_field = create_element("t:SetItemField")
                set_field.append(extended_uri(prop))
                contact = create_element(self.item_tag)
                extended = create_element("t:ExtendedProperty")
                extended.append(extended_uri(prop))
                add_xml_child(extended, "t:Value", value)
                contact.append(extended)
                set_field.append(contact)
                updates.append(set_field)
            change.append(updates)
            changes.append(change)
        return changes


def contact_paths(names: Iterable[str]) -> set[FieldPath]:
    """The exchangelib fields holding these EWS fields, and our stamps, for a GetItem."""
    wanted = exchangelib_fields(names) | {ORG_FIELD, CRM_FIELD}
    return {FieldPath(field=Contact.get_field_by_fieldname(n)) for n in wanted}


class StampEvents(StampItems):
    """`StampItems` for calendar items."""

    item_tag = "t:CalendarItem"
