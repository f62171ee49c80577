"""`EwsTransport`: a user's mailbox over EWS through exchangelib, with impersonation.

Configured the way ARCHITECTURE.md measured matters: fixed version and auth type (no
probes), explicit impersonation, `FailFast` (the runner owns retries and back-off), ids-only
change listing page by page with the org and CRM stamps as extended properties, then GetItem
of just the mapped fields in chunks, and per-item results for every write.

We call exchangelib's service classes directly rather than its QuerySet/Folder API: the
high-level API walks the folder tree, hides the sync state until the very end, deletes
indexed labels it isn't given on update, and aborts a whole chunk on one stale change key.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from django.conf import settings
from exchangelib import (
    BASIC,
    IMPERSONATION,
    NTLM,
    Account,
    Build,
    CalendarItem,
    Configuration,
    Contact,
    Credentials,
    ExtendedProperty,
    FailFast,
    Version,
)
from exchangelib import errors as ews_errors
from exchangelib.fields import FieldPath, IndexedField
from exchangelib.folders import Calendar, Contacts, Folder
from exchangelib.folders.roots import Root
from exchangelib.items import ID_ONLY, MOVE_TO_DELETED_ITEMS
from exchangelib.properties import DistinguishedFolderId, Mailbox
from exchangelib.restriction import Q, Restriction
from exchangelib.services import (
    CreateFolder,
    CreateItem,
    DeleteItem,
    FindFolder,
    GetFolder,
    GetItem,
    SyncFolderItems,
    UpdateItem,
)
from exchangelib.services.common import folder_ids_element
from exchangelib.util import TNS, add_xml_child, create_element

from lightningsync.models import LightningSyncSetup, User

from . import connect, guarded_http
from .ews_contacts import (
    apply_fields,
    display_name,
    exchangelib_fields,
    new_contact_elem,
    read_fields_xml,
    xml_datetime_utc,
)
from .ews_errors import EXTERNAL_ERRORS, item_failure, to_transport_error
from .transport import (
    Change,
    ChangeKind,
    ChangePage,
    ErrorKind,
    ExchangeItem,
    FolderKind,
    FolderRef,
    ItemFailure,
    ItemRef,
    ItemUpdate,
    NewItem,
    TransportError,
    WriteResult,
)

log = logging.getLogger(__name__)

CONTACT_FOLDER_NAME = "Salesforce_Sync"
# Exchange 2013 SP1 is the oldest supported server; every later version accepts this schema.
EWS_VERSION = Version(build=Build(15, 0, 847, 32), api_version="Exchange2013_SP1")
GET_CHUNK = 100
WRITE_CHUNK = 100

# Our own extended properties (a private property set; lower-case GUID as Exchange returns it).
PROPERTY_SET_ID = "7d3f5e0a-94a8-4d0c-b1f1-5b2f8c1e6a42"


class OrgIdProperty(ExtendedProperty):
    property_set_id = PROPERTY_SET_ID
    property_name = "LightningSyncOrgId"
    property_type = "String"


class CrmIdProperty(ExtendedProperty):
    property_set_id = PROPERTY_SET_ID
    property_name = "LightningSyncCrmId"
    property_type = "String"


ORG_FIELD = "lightningsync_org_id"
CRM_FIELD = "lightningsync_crm_id"


def _register_properties() -> None:
    """Once per process, at import: exchangelib keeps registrations on the item classes."""
    for cls in (Contact, CalendarItem):
        for attr, prop in ((ORG_FIELD, OrgIdProperty), (CRM_FIELD, CrmIdProperty)):
            if attr not in {f.name for f in cls.FIELDS}:
                cls.register(attr, prop)


_register_properties()


class _WholeResponse:
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


class _PerItemErrors(_WholeResponse):
    """Return every per-item response code as an exception instance instead of raising.

    exchangelib raises some codes (ErrorIrresolvableConflict...) for the whole chunk, which
    would lose the results of the other items of the batch.
    """

    ERRORS_TO_CATCH_IN_RESPONSE = (ews_errors.ResponseMessageError,)


class _DeleteItem(_PerItemErrors, DeleteItem):
    pass


# --- reading responses straight from the XML ----------------------------------------------
# exchangelib turns every response element into a full item object, walking all ~80 fields
# of a Contact (and every indexed entry's fields) to fill the dozen we asked for: measured
# here, that was most of the client time of a listing page or a GetItem chunk. The services
# below read what the transport needs from the elements instead.
_T = f"{{{TNS}}}"
_ITEM_ID = _T + "ItemId"
_CONTACT_TAG = _T + "Contact"
_EXTENDED = _T + "ExtendedProperty"
_EXTENDED_URI = _T + "ExtendedFieldURI"
_EXTENDED_VALUE = _T + "Value"
_LAST_MODIFIED = _T + "LastModifiedTime"


def _xml_stamps(item: Any) -> tuple[str | None, str | None]:
    """(org stamp, CRM stamp) of an item element; "" when present but empty (as exchangelib)."""
    org = crm = None
    for prop in item.iterfind(_EXTENDED):
        uri = prop.find(_EXTENDED_URI)
        if uri is None or (uri.get("PropertySetId") or "").lower() != PROPERTY_SET_ID:
            continue
        name = uri.get("PropertyName")
        if name == OrgIdProperty.property_name:
            org = prop.findtext(_EXTENDED_VALUE) or ""
        elif name == CrmIdProperty.property_name:
            crm = prop.findtext(_EXTENDED_VALUE) or ""
    return org, crm


class _Listed:
    """One SyncFolderItems entry: what `changes()` needs, nothing more."""

    __slots__ = ("changekey", "crm", "id", "is_contact", "org")

    def __init__(
        self,
        is_contact: bool,
        id: str,
        changekey: str | None = None,
        org: str | None = None,
        crm: str | None = None,
    ) -> None:
        self.is_contact = is_contact
        self.id = id
        self.changekey = changekey
        self.org = org
        self.crm = crm


class _SyncFolderItemIds(_WholeResponse, SyncFolderItems):
    """SyncFolderItems yielding (change type, `_Listed` or None for ReadFlagChange)."""

    def _elem_to_obj(self, elem: Any) -> tuple[str, _Listed | None]:
        change_type = self.change_types_map[elem.tag]
        if change_type == self.READ_FLAG_CHANGE:
            return change_type, None
        if change_type == self.DELETE:
            return change_type, _Listed(False, elem.find(_ITEM_ID).get("Id"))
        item = elem[0]  # Contact, DistributionList, CalendarItem...: the tag says which
        item_id = item.find(_ITEM_ID)
        org, crm = _xml_stamps(item)
        return change_type, _Listed(
            item.tag == _CONTACT_TAG, item_id.get("Id"), item_id.get("ChangeKey"), org, crm
        )


class _CreateContacts(_PerItemErrors, CreateItem):
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


class _NotContact:
    """A GetItem result that is some other kind of item (a distribution list...)."""


_NOT_CONTACT = _NotContact()


class _GetContacts(_PerItemErrors, GetItem):
    """GetItem yielding ExchangeItems with `names` read from the XML (or an exception, or
    `_NOT_CONTACT`)."""

    names: Sequence[str] = ()

    def _elem_to_obj(self, elem: Any) -> ExchangeItem | _NotContact:
        if elem.tag != _CONTACT_TAG:
            return _NOT_CONTACT
        item_id = elem.find(_ITEM_ID)
        org, crm = _xml_stamps(elem)
        return ExchangeItem(
            id=item_id.get("Id"),
            change_key=item_id.get("ChangeKey"),
            org_stamp=org,
            crm_stamp=crm,
            last_modified=xml_datetime_utc(elem.findtext(_LAST_MODIFIED)),
            fields=read_fields_xml(elem, self.names),
        )


class _GetFolder(_WholeResponse, GetFolder):
    pass


class _FindFolder(_WholeResponse, FindFolder):
    pass


class _CreateFolder(_WholeResponse, CreateFolder):
    pass


class _LabelAwareUpdateItem(_PerItemErrors, UpdateItem):
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


class _StampItems(_PerItemErrors, UpdateItem):
    """UpdateItem that sets only our two stamps, the XML built directly from
    (id, change key, org ID, CRM id) tuples: exchangelib builds and validates a Contact per
    item first, which measured here at ~0.7 ms each, most of stamping an import. The XML is
    the one exchangelib writes (tests/engine/test_ews_transport.py compares the two)."""

    def _changes_elem(self, target_changes: Any) -> Any:
        changes = create_element(self.CHANGES_ELEMENT_NAME)
        for (item_id, change_key, org_id, crm_id), _names in target_changes:
            change = create_element(self.CHANGE_ELEMENT_NAME)
            attrs = {"Id": item_id, "ChangeKey": change_key} if change_key else {"Id": item_id}
            change.append(create_element("t:ItemId", attrs=attrs))
            updates = create_element("t:Updates")
            for prop, value in ((CrmIdProperty, crm_id), (OrgIdProperty, org_id)):
                set_field = create_element("t:SetItemField")
                set_field.append(_extended_uri(prop))
                contact = create_element("t:Contact")
                extended = create_element("t:ExtendedProperty")
                extended.append(_extended_uri(prop))
                add_xml_child(extended, "t:Value", value)
                contact.append(extended)
                set_field.append(contact)
                updates.append(set_field)
            change.append(updates)
            changes.append(change)
        return changes


def _extended_uri(prop: type[ExtendedProperty]) -> Any:
    return create_element("t:ExtendedFieldURI", attrs={
        "PropertySetId": prop.property_set_id, "PropertyName": prop.property_name,
        "PropertyType": prop.property_type,
    })


def _stamp_paths() -> set[FieldPath]:
    return {
        FieldPath(field=Contact.get_field_by_fieldname(ORG_FIELD)),
        FieldPath(field=Contact.get_field_by_fieldname(CRM_FIELD)),
    }


def _contact_paths(names: Iterable[str]) -> set[FieldPath]:
    wanted = exchangelib_fields(names) | {ORG_FIELD, CRM_FIELD}
    return {FieldPath(field=Contact.get_field_by_fieldname(n)) for n in wanted}


# --- connection -------------------------------------------------------------------------

_configs: dict[tuple[Any, ...], Configuration] = {}
_configs_lock = threading.Lock()


def _ca_bundle_path(pem: str) -> str:
    digest = hashlib.sha256(pem.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"lightningsync-ca-{digest}.pem"
    if not path.exists():
        path.write_text(pem)
    return str(path)


def configuration_for(setup: LightningSyncSetup) -> Configuration:
    """One exchangelib Configuration per Setup version, shared by every user's Account.

    Sharing it shares the protocol's HTTP connection pool across mailboxes.
    """
    password = setup.service_account_password()
    key = (
        setup.ews_url,
        setup.service_account_username,
        hashlib.sha256(password.encode()).hexdigest(),
        setup.auth_type,
        hashlib.sha256(setup.ca_bundle.encode()).hexdigest(),
    )
    with _configs_lock:
        config = _configs.get(key)
        if config is None:
            if not setup.ews_url:
                raise TransportError(
                    ErrorKind.CONFIGURATION,
                    "No EWS URL is set in Lightning Sync Setup (Autodiscover is resolved by "
                    "the connection test, which stores the URL it found).",
                )
            config = Configuration(
                service_endpoint=setup.ews_url,
                credentials=Credentials(setup.service_account_username, password),
                auth_type=NTLM if setup.auth_type == "ntlm" else BASIC,
                version=EWS_VERSION,
                retry_policy=FailFast(),
                max_connections=settings.LIGHTNINGSYNC_EWS_MAX_CONNECTIONS,
            )
            _configs[key] = config
        return config


def _trust_bundle(protocol: Any, ca_path: str) -> None:
    """Verify against the bundle only (REQUESTS_CA_BUNDLE would otherwise win)."""
    original = protocol.create_session

    def create_session() -> Any:
        session = original()
        session.trust_env = False
        session.verify = ca_path
        return session

    protocol.create_session = create_session


def _guard_sessions(protocol: Any) -> None:
    """Every session of the protocol connects only where SPEC §13 allows (before any request
    carries the service account's credentials)."""
    original = protocol.create_session

    def create_session() -> Any:
        return guarded_http.guard(original(), pool_size=protocol.CONNECTIONS_PER_SESSION)

    protocol.create_session = create_session


def account_for(setup: LightningSyncSetup, email: str) -> Account:
    config = configuration_for(setup)
    account = Account(
        primary_smtp_address=email,
        config=config,
        autodiscover=False,
        access_type=IMPERSONATION,
        default_timezone=None,
    )
    protocol = account.protocol
    protocol.TIMEOUT = settings.LIGHTNINGSYNC_EWS_TIMEOUT_SECONDS
    if not getattr(protocol, "_lightningsync_guarded", False):
        _guard_sessions(protocol)
        protocol._lightningsync_guarded = True
    if setup.ca_bundle and not getattr(protocol, "_lightningsync_ca", None):
        _trust_bundle(protocol, _ca_bundle_path(setup.ca_bundle))
        protocol._lightningsync_ca = True
    return account


# --- the transport ----------------------------------------------------------------------


class EwsTransport:
    """One user's mailbox over EWS. Per user and per cycle; not shared across threads."""

    def __init__(self, account: Account, org_id: str) -> None:
        self.account = account
        self.org_id = org_id
        self._root = Root(account=account)
        self._contacts_parent: Folder | None = None

    @classmethod
    def for_user(cls, user: User, setup: LightningSyncSetup) -> EwsTransport:
        if not user.email:
            raise TransportError(
                ErrorKind.CONFIGURATION, f"User {user.username} has no email address."
            )
        try:
            account = account_for(setup, user.email)
        except EXTERNAL_ERRORS as exc:
            raise to_transport_error(exc) from exc
        return cls(account, str(setup.org_id))

    # -- helpers ------------------------------------------------------------------------
    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run one service call; whole-call failures become TransportError."""
        try:
            return fn(*args, **kwargs)
        except EXTERNAL_ERRORS as exc:
            raise to_transport_error(exc) from exc

    def _folder(self, folder_id: str) -> Folder:
        return Folder(root=self._root, id=folder_id)

    def _distinguished(self, cls: type[Folder]) -> Folder:
        folder = cls(
            _distinguished_id=DistinguishedFolderId(
                id=cls.DISTINGUISHED_FOLDER_ID,
                mailbox=Mailbox(email_address=self.account.primary_smtp_address),
            ),
            root=self._root,
        )
        found = self._call(
            lambda: list(
                _GetFolder(account=self.account).call(
                    folders=[folder], additional_fields=(), shape=ID_ONLY
                )
            )
        )
        result = found[0]
        if isinstance(result, Exception):
            raise to_transport_error(result)
        return result

    # -- folders ------------------------------------------------------------------------
    def find_contact_folder(self) -> FolderRef | None:
        parent = self._contacts_parent or self._distinguished(Contacts)
        self._contacts_parent = parent

        def find() -> list[Any]:
            return list(
                _FindFolder(account=self.account).call(
                    folders=[parent],
                    additional_fields={FieldPath(field=Folder.get_field_by_fieldname("name"))},
                    restriction=Restriction(
                        Q(name=CONTACT_FOLDER_NAME),
                        folders=[parent],
                        applies_to=Restriction.FOLDERS,
                    ),
                    shape=ID_ONLY,
                    depth="Shallow",
                    max_items=10,
                    offset=0,
                )
            )

        for folder in self._call(find):
            if isinstance(folder, Exception):
                raise to_transport_error(folder)
            if folder.name == CONTACT_FOLDER_NAME:
                return FolderRef(FolderKind.CONTACTS, folder.id)
        return None

    def ensure_contact_folder(self) -> FolderRef:
        existing = self.find_contact_folder()
        if existing is not None:
            return existing
        assert self._contacts_parent is not None
        new = Folder(root=self._root, name=CONTACT_FOLDER_NAME, folder_class="IPF.Contact")
        created = self._call(
            lambda: list(
                _CreateFolder(account=self.account).call(
                    parent_folder=self._contacts_parent, folders=[new]
                )
            )
        )
        result = created[0]
        if isinstance(result, ews_errors.ErrorFolderExists):
            # Another writer created it between our look and our create.
            found = self.find_contact_folder()
            if found is not None:
                return found
        if isinstance(result, Exception):
            raise to_transport_error(result)
        return FolderRef(FolderKind.CONTACTS, result.id, created=True)

    def calendar_folder(self) -> FolderRef:
        return FolderRef(FolderKind.CALENDAR, self._distinguished(Calendar).id)

    def count_items(self, folder: FolderRef) -> int:
        target = self._folder(folder.id)
        found = self._call(
            lambda: list(
                _GetFolder(account=self.account).call(
                    folders=[target],
                    additional_fields={
                        FieldPath(field=Folder.get_field_by_fieldname("total_count"))
                    },
                    shape=ID_ONLY,
                )
            )
        )
        result = found[0]
        if isinstance(result, Exception):
            raise to_transport_error(result)
        return int(result.total_count or 0)

    # -- listing ------------------------------------------------------------------------
    def changes(
        self, folder: FolderRef, cursor: str | None, page_size: int = 512
    ) -> Iterator[ChangePage]:
        target = self._folder(folder.id)
        state = cursor
        while True:
            svc = _SyncFolderItemIds(account=self.account)

            def page(svc: SyncFolderItems = svc, state: str | None = state) -> list[Any]:
                return list(
                    svc.call(
                        folder=target,
                        shape=ID_ONLY,
                        additional_fields=_stamp_paths(),
                        sync_state=state,
                        ignore=None,
                        max_changes_returned=page_size,
                        sync_scope="NormalItems",
                    )
                )

            entries = self._call(page)
            changes: list[Change] = []
            for change_type, item in entries:
                if item is None:
                    continue  # ReadFlagChange: nothing we sync
                if change_type == SyncFolderItems.DELETE:
                    changes.append(Change(ChangeKind.DELETE, item.id))
                elif change_type in (SyncFolderItems.CREATE, SyncFolderItems.UPDATE):
                    if folder.kind is FolderKind.CONTACTS and not item.is_contact:
                        continue  # distribution lists and anything else are not synced
                    kind = (
                        ChangeKind.CREATE
                        if change_type == SyncFolderItems.CREATE
                        else ChangeKind.UPDATE
                    )
                    changes.append(Change(kind, item.id, item.changekey, item.org, item.crm))
            more = not svc.includes_last_item_in_range
            yield ChangePage(changes, svc.sync_state, more)
            if not more:
                return
            state = svc.sync_state

    # -- reads --------------------------------------------------------------------------
    def get_items(
        self, folder: FolderRef, ids: Sequence[str], fields: Sequence[str]
    ) -> list[ExchangeItem | ItemFailure]:
        if folder.kind is not FolderKind.CONTACTS:
            raise NotImplementedError("Event reads arrive with event sync.")
        paths = _contact_paths(fields)
        chunks = [ids[start : start + GET_CHUNK] for start in range(0, len(ids), GET_CHUNK)]

        def fetch(chunk: Sequence[str]) -> list[Any]:
            svc = _GetContacts(account=self.account, chunk_size=GET_CHUNK)
            svc.names = fields
            return self._call(lambda: list(svc.call(
                items=[(i, None) for i in chunk], additional_fields=paths, shape=ID_ONLY)))

        # Two requests in flight: one chunk is parsed here while Exchange prepares the next
        # (measured on the import benchmark: the client otherwise idles for the server's time
        # of every request). Results keep the order of `ids`; the first failure is raised.
        workers = min(len(chunks), max(1, settings.LIGHTNINGSYNC_EWS_READ_CONCURRENCY))
        if workers <= 1:
            fetched = [fetch(chunk) for chunk in chunks]
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="ews-get") as pool:
                fetched = list(pool.map(fetch, chunks))
        out: list[ExchangeItem | ItemFailure] = []
        for chunk, results in zip(chunks, fetched, strict=True):
            for item_id, result in zip(chunk, results, strict=True):
                if isinstance(result, Exception):
                    out.append(item_failure(item_id, result))
                elif not isinstance(result, ExchangeItem):
                    out.append(
                        ItemFailure(item_id, ErrorKind.PERMANENT_ITEM, "Not a contact item.")
                    )
                else:
                    out.append(result)
        return out

    # -- writes -------------------------------------------------------------------------
    def create_items(self, folder: FolderRef, items: Sequence[NewItem]) -> list[WriteResult]:
        target = self._folder(folder.id)
        out: list[WriteResult] = []
        for start in range(0, len(items), WRITE_CHUNK):
            chunk = items[start : start + WRITE_CHUNK]
            version = self.account.version
            contacts = [
                new_contact_elem(
                    dict(new.fields),
                    display_name(new.fields),
                    {ORG_FIELD: self.org_id, CRM_FIELD: new.crm_stamp},
                    version,
                )
                for new in chunk
            ]
            results = self._call(
                lambda contacts=contacts: list(
                    _CreateContacts(account=self.account, chunk_size=WRITE_CHUNK).call(
                        items=contacts,
                        folder=target,
                        message_disposition="SaveOnly",
                        send_meeting_invitations="SendToNone",
                    )
                )
            )
            out += [_written(None, result) for result in results]
        return out

    def update_items(self, updates: Sequence[ItemUpdate]) -> list[WriteResult]:
        out: list[WriteResult] = []
        for start in range(0, len(updates), WRITE_CHUNK):
            chunk = updates[start : start + WRITE_CHUNK]
            # Stamp-only updates (items linked without a change of their own) go as XML.
            stamps_only = all(not u.fields and u.crm_stamp is not None for u in chunk)
            service = _StampItems if stamps_only else _LabelAwareUpdateItem
            items = [self._stamp_target(u) if stamps_only else self._update_target(u)
                     for u in chunk]
            results = self._call(
                lambda service=service, items=items: list(
                    service(account=self.account, chunk_size=WRITE_CHUNK).call(
                        items=items,
                        conflict_resolution="NeverOverwrite",
                        message_disposition="SaveOnly",
                        send_meeting_invitations_or_cancellations="SendToNone",
                        suppress_read_receipts=True,
                    )
                )
            )
            out += [_written(u.ref.id, r) for u, r in zip(chunk, results, strict=True)]
        return out

    def _update_target(self, update: ItemUpdate) -> tuple[Contact, list[str]]:
        contact = Contact(account=self.account, id=update.ref.id, changekey=update.ref.change_key)
        names = apply_fields(contact, dict(update.fields))
        if "GivenName" in update.fields and "Surname" in update.fields:
            # Both names known: keep Outlook's DisplayName in step with them.
            contact.display_name = display_name(update.fields)
            names.append("display_name")
        if update.crm_stamp is not None:
            setattr(contact, ORG_FIELD, self.org_id)
            setattr(contact, CRM_FIELD, update.crm_stamp)
            names += [ORG_FIELD, CRM_FIELD]
        return contact, names

    def _stamp_target(self, update: ItemUpdate) -> tuple[tuple[str, str, str, str], list[str]]:
        return (update.ref.id, update.ref.change_key, self.org_id, update.crm_stamp or ""), [
            "stamps"]

    def delete_items(self, refs: Sequence[ItemRef]) -> list[WriteResult]:
        out: list[WriteResult] = []
        for start in range(0, len(refs), WRITE_CHUNK):
            chunk = refs[start : start + WRITE_CHUNK]
            results = self._call(
                lambda chunk=chunk: list(
                    _DeleteItem(account=self.account, chunk_size=WRITE_CHUNK).call(
                        items=[(r.id, None) for r in chunk],
                        delete_type=MOVE_TO_DELETED_ITEMS,
                        send_meeting_cancellations="SendToNone",
                        affected_task_occurrences="AllOccurrences",
                        suppress_read_receipts=True,
                    )
                )
            )
            for ref, result in zip(chunk, results, strict=True):
                if isinstance(result, ews_errors.ErrorItemNotFound):
                    out.append(WriteResult(id=ref.id))  # already gone: what we wanted
                elif isinstance(result, Exception):
                    out.append(WriteResult(id=ref.id, error=item_failure(ref.id, result)))
                else:
                    out.append(WriteResult(id=ref.id))
        return out

    def close(self) -> None:
        """Connections are pooled per Configuration and shared; nothing to release per user."""

    # -- folder location ------------------------------------------------------------------
    # Added for the contact sync's check that Salesforce_Sync was not "deleted" in Outlook
    # (moved, id and items, under Deleted Items). Kept at the end of the class on purpose:
    # ews.py is being changed at the same time (SyncFolderItems parsing); this is the only
    # edit to it from that work.
    def folder_is_in_place(self, folder: FolderRef) -> bool:
        """Is Salesforce_Sync still directly under the default Contacts folder?

        Cost: ONE GetFolder request naming both folders (Salesforce_Sync by id with its
        ParentFolderId, the Contacts folder by its distinguished id); the two ids are
        compared. A Salesforce_Sync that is gone counts as not in place.
        """
        target = self._folder(folder.id)
        contacts = Contacts(
            _distinguished_id=DistinguishedFolderId(
                id=Contacts.DISTINGUISHED_FOLDER_ID,
                mailbox=Mailbox(email_address=self.account.primary_smtp_address),
            ),
            root=self._root,
        )
        parent_path = FieldPath(field=Folder.get_field_by_fieldname("parent_folder_id"))
        mine, parent = self._call(
            lambda: list(
                _GetFolder(account=self.account).call(
                    folders=[target, contacts], additional_fields={parent_path}, shape=ID_ONLY
                )
            )
        )
        if isinstance(parent, Exception):
            raise to_transport_error(parent)
        self._contacts_parent = self._contacts_parent or parent
        if isinstance(mine, ews_errors.ErrorFolderNotFound | ews_errors.ErrorItemNotFound):
            return False
        if isinstance(mine, Exception):
            raise to_transport_error(mine)
        return mine.parent_folder_id is not None and mine.parent_folder_id.id == parent.id


def _written(item_id: str | None, result: Any) -> WriteResult:
    """A create/update service's per-item result: (id, change key), or the item's failure."""
    if isinstance(result, Exception):
        return WriteResult(id=item_id, error=item_failure(item_id, result))
    new_id, change_key = result
    return WriteResult(id=new_id, change_key=change_key)


def _factory(user: User, setup: LightningSyncSetup) -> EwsTransport:
    return EwsTransport.for_user(user, setup)


connect.register(LightningSyncSetup.ConnectionMethod.SERVICE_ACCOUNT.value, _factory)
