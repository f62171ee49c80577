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

import datetime as dt
import hashlib
import logging
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
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

from lightningsync.models import LightningSyncSetup, User

from . import connect
from .ews_contacts import apply_fields, display_name, exchangelib_fields, new_contact_entries_only
from .ews_contacts import read_fields as read_contact_fields
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


class _GetItem(_PerItemErrors, GetItem):
    pass


class _CreateItem(_PerItemErrors, CreateItem):
    pass


class _DeleteItem(_PerItemErrors, DeleteItem):
    pass


class _SyncFolderItems(_WholeResponse, SyncFolderItems):
    pass


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
                max_connections=getattr(settings, "LIGHTNINGSYNC_EWS_MAX_CONNECTIONS", 8),
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
    protocol.TIMEOUT = getattr(settings, "LIGHTNINGSYNC_EWS_TIMEOUT_SECONDS", 60)
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
            svc = _SyncFolderItems(account=self.account)

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
                if change_type == SyncFolderItems.DELETE:
                    changes.append(Change(ChangeKind.DELETE, item.id))
                elif change_type in (SyncFolderItems.CREATE, SyncFolderItems.UPDATE):
                    if folder.kind is FolderKind.CONTACTS and not isinstance(item, Contact):
                        continue  # distribution lists and anything else are not synced
                    kind = (
                        ChangeKind.CREATE
                        if change_type == SyncFolderItems.CREATE
                        else ChangeKind.UPDATE
                    )
                    changes.append(
                        Change(
                            kind,
                            item.id,
                            item.changekey,
                            getattr(item, ORG_FIELD, None),
                            getattr(item, CRM_FIELD, None),
                        )
                    )
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
        out: list[ExchangeItem | ItemFailure] = []
        for start in range(0, len(ids), GET_CHUNK):
            chunk = ids[start : start + GET_CHUNK]
            results = self._call(
                lambda chunk=chunk: list(
                    _GetItem(account=self.account, chunk_size=GET_CHUNK).call(
                        items=[(i, None) for i in chunk], additional_fields=paths, shape=ID_ONLY
                    )
                )
            )
            for item_id, result in zip(chunk, results, strict=True):
                if isinstance(result, Exception):
                    out.append(item_failure(item_id, result))
                elif not isinstance(result, Contact):
                    out.append(
                        ItemFailure(item_id, ErrorKind.PERMANENT_ITEM, "Not a contact item.")
                    )
                else:
                    out.append(self._to_item(result, fields))
        return out

    def _to_item(self, item: Contact, fields: Sequence[str]) -> ExchangeItem:
        modified = item.last_modified_time
        return ExchangeItem(
            id=item.id,
            change_key=item.changekey,
            org_stamp=getattr(item, ORG_FIELD, None),
            crm_stamp=getattr(item, CRM_FIELD, None),
            last_modified=dt.datetime.fromtimestamp(modified.timestamp(), tz=dt.UTC)
            if modified
            else None,
            fields=read_contact_fields(item, fields),
        )

    # -- writes -------------------------------------------------------------------------
    def create_items(self, folder: FolderRef, items: Sequence[NewItem]) -> list[WriteResult]:
        target = self._folder(folder.id)
        out: list[WriteResult] = []
        for start in range(0, len(items), WRITE_CHUNK):
            chunk = items[start : start + WRITE_CHUNK]
            contacts = []
            for new in chunk:
                contact = Contact(account=self.account)
                apply_fields(contact, dict(new.fields))
                new_contact_entries_only(contact)
                contact.display_name = display_name(new.fields)
                setattr(contact, ORG_FIELD, self.org_id)
                setattr(contact, CRM_FIELD, new.crm_stamp)
                contacts.append(contact)
            results = self._call(
                lambda contacts=contacts: list(
                    _CreateItem(account=self.account, chunk_size=WRITE_CHUNK).call(
                        items=contacts,
                        folder=target,
                        message_disposition="SaveOnly",
                        send_meeting_invitations="SendToNone",
                    )
                )
            )
            for result in results:
                if isinstance(result, Exception):
                    out.append(WriteResult(error=item_failure(None, result)))
                else:
                    out.append(WriteResult(id=result.id, change_key=result.changekey))
        return out

    def update_items(self, updates: Sequence[ItemUpdate]) -> list[WriteResult]:
        out: list[WriteResult] = []
        for start in range(0, len(updates), WRITE_CHUNK):
            chunk = updates[start : start + WRITE_CHUNK]
            pairs = []
            for update in chunk:
                contact = Contact(
                    account=self.account, id=update.ref.id, changekey=update.ref.change_key
                )
                names = apply_fields(contact, dict(update.fields))
                if "GivenName" in update.fields and "Surname" in update.fields:
                    # Both names known: keep Outlook's DisplayName in step with them.
                    contact.display_name = display_name(update.fields)
                    names.append("display_name")
                if update.crm_stamp is not None:
                    setattr(contact, ORG_FIELD, self.org_id)
                    setattr(contact, CRM_FIELD, update.crm_stamp)
                    names += [ORG_FIELD, CRM_FIELD]
                pairs.append((contact, names))
            results = self._call(
                lambda pairs=pairs: list(
                    _LabelAwareUpdateItem(account=self.account, chunk_size=WRITE_CHUNK).call(
                        items=pairs,
                        conflict_resolution="NeverOverwrite",
                        message_disposition="SaveOnly",
                        send_meeting_invitations_or_cancellations="SendToNone",
                        suppress_read_receipts=True,
                    )
                )
            )
            for update, result in zip(chunk, results, strict=True):
                if isinstance(result, Exception):
                    out.append(
                        WriteResult(id=update.ref.id, error=item_failure(update.ref.id, result))
                    )
                else:
                    item_id, change_key = result
                    out.append(WriteResult(id=item_id, change_key=change_key))
        return out

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


def _factory(user: User, setup: LightningSyncSetup) -> EwsTransport:
    return EwsTransport.for_user(user, setup)


connect.register(LightningSyncSetup.ConnectionMethod.SERVICE_ACCOUNT.value, _factory)
