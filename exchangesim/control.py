"""The simulator core and its Python control API.

`Simulator` owns the store, the fault rules and the counters. The HTTP server serves EWS
and Autodiscover from it, and exposes the same methods as JSON under /_sim/. Tests and the
demo seed mailboxes and act "as a rep in Outlook" through these methods; every edit goes
through the same store paths as EWS writes, so change keys move and sync logs record it.

Field dicts use EWS element names: GivenName, Surname, EmailAddresses={"EmailAddress1": ..},
PhoneNumbers={"BusinessPhone": ..}, PhysicalAddresses={"Business": {"Street": .., ..}},
Body="notes", Birthday=date, Categories=[..], Start/End=datetime, Sensitivity="Private", ...
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from typing import Any

from . import ids
from .control_graph import GraphControl
from .ewsbase import Occurrence, occurrence_fields
from .faults import Counters, FaultRule, Faults
from .graph_auth import DEFAULT_LIFETIME
from .graph_delta import Views
from .itemxml import fmt_dt, norm_datetime
from .schema import (
    ADDRESSES,
    ATTENDEES,
    BY_NAME,
    COMPUTED,
    CONTACT,
    DATETIME,
    DLIST,
    EVENT,
    FIELDS_FOR,
    INDEXED,
    MAILBOX,
    MEMBERS,
    STRLIST,
    ext_key,
)
from .store import Folder, Item, Mailbox, SimError, Store, apply_change, fill_defaults

VERSIONS = {
    # RequestServerVersion name -> (major, minor, build, revision) of a typical CU
    "Exchange2010_SP2": (14, 2, 247, 5),  # refuses the 2013 schemas, as Exchange 2010 does
    "Exchange2013_SP1": (15, 0, 847, 32),
    "Exchange2016": (15, 1, 2507, 6),
    "Exchange2019": (15, 2, 1118, 7),
}


def _date_or_datetime(value: Any, all_day_date: bool = False) -> str:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return fmt_dt(value)
    if isinstance(value, dt.date):
        # Dates without a time (birthdays) are stored at 11:59 UTC, as exchangelib sends them,
        # so the calendar date survives any client time zone.
        return f"{value.isoformat()}T{'00:00' if all_day_date else '11:59'}:00Z"
    text = str(value)
    if len(text) == 10:
        return f"{text}T{'00:00' if all_day_date else '11:59'}:00Z"
    return norm_datetime(text)


def _mailbox_dict(value: Any) -> dict[str, str]:
    if isinstance(value, str):
        return {"EmailAddress": value}
    return {k: str(v) for k, v in dict(value).items()}


def normalize_fields(type_: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Python-friendly values -> the stored (JSON) form; unknown names are an error."""
    allowed = {f.name: f for f in FIELDS_FOR[type_]}
    out: dict[str, Any] = {}
    all_day = bool(fields.get("IsAllDayEvent"))
    for name, value in fields.items():
        if name == "BodyType":
            out[name] = value
            continue
        spec = allowed.get(name)
        if spec is None or spec.type == COMPUTED:
            raise ValueError(f"{name!r} is not a writable {type_} property")
        if value is None:
            out[name] = None
        elif spec.type == DATETIME:
            out[name] = _date_or_datetime(value, all_day_date=all_day and name in ("Start", "End"))
        elif spec.type == STRLIST:
            out[name] = [str(v) for v in value]
        elif spec.type == INDEXED:
            out[name] = {str(k): str(v) for k, v in dict(value).items() if v}
        elif spec.type == ADDRESSES:
            out[name] = {
                str(k): {p: str(x) for p, x in dict(v).items() if x} for k, v in dict(value).items()
            }
        elif spec.type == MAILBOX:
            out[name] = _mailbox_dict(value)
        elif spec.type == ATTENDEES:
            out[name] = [{"ResponseType": "Unknown", **_mailbox_dict(a)} for a in value]
        elif spec.type == MEMBERS:
            out[name] = [_mailbox_dict(m) for m in value]
        elif spec.type == "timezone":
            out[name] = {"Id": value} if isinstance(value, str) else dict(value)
        elif spec.type == "recurrence":
            out[name] = {
                k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in dict(value).items()
            }
        else:
            out[name] = value
    return out


def _ext_entries(extended: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for entry in extended or []:
        uri = {k: str(v) for k, v in entry.items() if k != "Value"}
        uri.setdefault("PropertyType", "String")
        out[ext_key(uri)] = {"uri": uri, "value": entry["Value"]}
    return out


class Simulator(GraphControl):
    """One simulated Exchange organisation (thread-safe), over EWS and Microsoft Graph."""

    def __init__(
        self,
        version: str = "Exchange2016",
        build: tuple[int, int, int, int] | None = None,
        data_file: str | None = None,
    ) -> None:
        self.store = Store()
        self.faults = Faults()
        self.counters = Counters()
        self.version = version
        self.build = build or VERSIONS.get(version, VERSIONS["Exchange2016"])
        self.data_file = data_file
        self.ntlm = True  # offered in 401 challenges and accepted (see ntlm.py)
        self.base_url = ""  # set by the server once it listens
        self.graph_views = Views()  # calendar-view delta states (not saved: a restart drops them)
        self.token_lifetime = DEFAULT_LIFETIME
        self._save_lock = threading.Lock()
        if data_file and os.path.exists(data_file):
            with open(data_file, encoding="utf-8") as fh:
                self.store.load_json(json.load(fh))

    # -- server facts --------------------------------------------------------------------
    def server_version_info(self) -> dict[str, str]:
        major, minor, build, rev = self.build
        return {
            "major": str(major),
            "minor": str(minor),
            "build": str(build),
            "revision": str(rev),
            "version": "V2_23" if self.version == "Exchange2016" else self.version,
        }

    def set_ntlm(self, enabled: bool) -> None:
        """Accept NTLM (the default), or answer every NTLM message with the plain 401 (NTLM
        still advertised, never a CHALLENGE: a front end that breaks the handshake)."""
        self.ntlm = bool(enabled)

    def set_version(self, version: str) -> None:
        """Present the server as another Exchange version (a name of VERSIONS)."""
        if version not in VERSIONS:
            raise ValueError(f"unknown version {version!r}; one of {sorted(VERSIONS)}")
        self.version, self.build = version, VERSIONS[version]

    def accepts_schema(self, requested: str) -> bool:
        """Exchange 2010 (major 14) answers ErrorInvalidServerVersion to 2013+ schemas."""
        return self.build[0] >= 15 or requested.startswith(("Exchange2007", "Exchange2010"))

    @property
    def ews_url(self) -> str:
        return self.base_url + "/EWS/Exchange.asmx"

    @property
    def autodiscover_url(self) -> str:
        return self.base_url + "/autodiscover/autodiscover.svc"

    def resolve_principal(self, kind: str, value: str) -> str | None:
        """An ExchangeImpersonation ConnectingSID value -> the SMTP address of a mailbox."""
        with self.store.lock:
            if kind == "SID":
                for mbx in self.store.mailboxes.values():
                    if self.sid(mbx.smtp) == value:
                        return mbx.smtp
                return None
            found = self.store.mailboxes.get(value.lower())
            return found.smtp if found else None

    def sid(self, smtp: str) -> str:
        """A stable Windows-style SID for a mailbox, for SID-based impersonation."""
        uid = self.store.mailbox(smtp).uid
        parts = [int.from_bytes(uid[i : i + 4], "big") for i in (0, 4, 8)]
        return "S-1-5-21-" + "-".join(str(p) for p in parts) + "-1001"

    # -- organisation set-up -------------------------------------------------------------
    def add_mailbox(self, smtp: str, display_name: str = "") -> str:
        """Create a mailbox with its distinguished folders; returns its SMTP address."""
        return self.store.add_mailbox(smtp, display_name).smtp

    def add_service_account(self, user: str, password: str, scope: list[str] | None = None) -> None:
        """An account that may impersonate `scope` (None = every mailbox)."""
        self.store.add_account(user, password)
        self.store.set_scope(user, scope)

    def set_scope(self, user: str, mailboxes: list[str] | None) -> None:
        self.store.set_scope(user, mailboxes)

    def set_quota(self, mailbox: str, items: int | None) -> None:
        """A full mailbox: EWS creates and updates fail with ErrorQuotaExceeded once it holds
        `items` items (None lifts the limit). Outlook acting as the rep is not limited."""
        with self.store.lock:
            self.store.mailbox(mailbox).quota = items
            self.store.dirty = True

    def refuse_folder(self, mailbox: str, folder: str, refusal: str | None = "not_found") -> None:
        """Make a distinguished folder ("contacts", "calendar", ...) of a mailbox that opens
        unreachable, as Exchange does: EWS requests naming it answer ErrorFolderNotFound
        ("not_found") or ErrorAccessDenied ("access_denied"); Graph 404 ErrorItemNotFound or
        403 ErrorAccessDenied. refusal=None reaches it again."""
        from .store import DISTINGUISHED_FOLDERS, FOLDER_REFUSALS

        if folder not in {d[0] for d in DISTINGUISHED_FOLDERS}:
            raise ValueError(f"{folder!r} is not a distinguished folder name")
        if refusal is not None and refusal not in FOLDER_REFUSALS:
            raise ValueError(f"Unknown refusal {refusal!r}; choose one of "
                             f"{', '.join(FOLDER_REFUSALS)}")
        with self.store.lock:
            refused = self.store.mailbox(mailbox).refused
            if refusal is None:
                refused.pop(folder, None)
            else:
                refused[folder] = refusal
            self.store.dirty = True

    def mailboxes(self) -> list[str]:
        with self.store.lock:
            return [m.smtp for m in self.store.mailboxes.values()]

    # -- folders -------------------------------------------------------------------------
    def _folder(self, mbx: Mailbox, folder: str) -> Folder:
        if folder in mbx.folders:
            return mbx.folders[folder]
        return self.store.find_folder_by_path(mbx, folder)

    def folder_path(self, mbx: Mailbox, folder: Folder) -> str:
        parts = []
        f: Folder | None = folder
        while f is not None and f.distinguished != "msgfolderroot":
            parts.append(f.distinguished or f.name)
            if f.distinguished:
                break
            f = mbx.folders.get(f.parent) if f.parent else None
        return "/".join(reversed(parts))

    def create_folder(
        self, mailbox: str, name: str, parent: str = "contacts", folder_class: str | None = None
    ) -> str:
        """Create a folder (e.g. Salesforce_Sync under contacts); returns its folder id."""
        with self.store.lock:
            mbx = self.store.mailbox(mailbox)
            return self.store.create_folder(
                mbx, self._folder(mbx, parent).id, name, folder_class
            ).id

    def folder_id(self, mailbox: str, path: str) -> str:
        """'contacts', 'contacts/Salesforce_Sync', ... -> folder id."""
        with self.store.lock:
            mbx = self.store.mailbox(mailbox)
            return self._folder(mbx, path).id

    def folders(self, mailbox: str) -> list[dict[str, Any]]:
        with self.store.lock:
            mbx = self.store.mailbox(mailbox)
            return [
                {
                    "id": f.id,
                    "name": f.name,
                    "path": self.folder_path(mbx, f),
                    "distinguished": f.distinguished,
                    "folder_class": f.folder_class,
                    "parent": f.parent,
                    "count": len(f.items),
                }
                for f in mbx.folders.values()
            ]

    # -- acting as a rep in Outlook ------------------------------------------------------
    def create_item(
        self,
        mailbox: str,
        item_type: str,
        folder: str,
        fields: dict[str, Any],
        extended: list[dict[str, Any]] | None = None,
    ) -> str:
        with self.store.lock:
            mbx = self.store.mailbox(mailbox)
            target = self._folder(mbx, folder)
            norm = normalize_fields(item_type, fields)
            if item_type == EVENT:
                norm.setdefault("Organizer", {"Name": mbx.display_name, "EmailAddress": mbx.smtp})
                if "Start" not in norm or "End" not in norm:
                    raise ValueError("An event needs Start and End")
            it = self.store.create_item(mbx, target, item_type, norm, _ext_entries(extended))
            return it.id

    def create_contact(
        self,
        mailbox: str,
        folder: str = "contacts",
        extended: list[dict[str, Any]] | None = None,
        **fields: Any,
    ) -> str:
        """Create a contact as Outlook would; returns its item id."""
        return self.create_item(mailbox, CONTACT, folder, fields, extended)

    def create_event(
        self,
        mailbox: str,
        folder: str = "calendar",
        extended: list[dict[str, Any]] | None = None,
        **fields: Any,
    ) -> str:
        """Create a calendar item (add Recurrence={...} for a series); returns its item id."""
        return self.create_item(mailbox, EVENT, folder, fields, extended)

    def create_distribution_list(
        self, mailbox: str, display_name: str, members: list[str], folder: str = "contacts"
    ) -> str:
        return self.create_item(
            mailbox, DLIST, folder, {"DisplayName": display_name, "Members": members}
        )

    def update_item(self, mailbox: str, item_id: str, **fields: Any) -> str:
        """Edit properties as a rep would (None removes one); returns the new change key."""
        with self.store.lock:
            mbx = self.store.mailbox(mailbox)
            it = self.store.item(mbx, item_id)
            norm = normalize_fields(it.type, fields)
            changes = [("del", (k,)) if v is None else ("set", (k,), v) for k, v in norm.items()]
            self.store.apply_changes(mbx, it, changes)
            return it.changekey()

    def set_categories(self, mailbox: str, item_id: str, categories: list[str]) -> str:
        return self.update_item(mailbox, item_id, Categories=categories or None)

    def set_sensitivity(self, mailbox: str, item_id: str, sensitivity: str) -> str:
        if sensitivity not in ("Normal", "Personal", "Private", "Confidential"):
            raise ValueError(f"Unknown sensitivity {sensitivity!r}")
        return self.update_item(mailbox, item_id, Sensitivity=sensitivity)

    def set_extended_property(self, mailbox: str, item_id: str, value: Any, **uri: str) -> str:
        """Set (None: remove) one extended property named by ExtendedFieldURI attributes."""
        with self.store.lock:
            mbx = self.store.mailbox(mailbox)
            it = self.store.item(mbx, item_id)
            uri.setdefault("PropertyType", "String")
            key = ext_key(uri)
            change = (
                ("del", ("ext", key)) if value is None else ("set", ("ext", key, dict(uri)), value)
            )
            self.store.apply_changes(mbx, it, [change])
            return it.changekey()

    def move_item(self, mailbox: str, item_id: str, folder: str) -> str:
        """Move to another folder; like Exchange, the item gets a new id (returned)."""
        with self.store.lock:
            mbx = self.store.mailbox(mailbox)
            it = self.store.item(mbx, item_id)
            return self.store.move_item(mbx, it, self._folder(mbx, folder)).id

    def delete_item(
        self, mailbox: str, item_id: str, mode: str = "MoveToDeletedItems"
    ) -> str | None:
        """Delete as Outlook does (to Deleted Items; returns the new id) or Hard/SoftDelete."""
        with self.store.lock:
            mbx = self.store.mailbox(mailbox)
            it = self.store.item(mbx, item_id)
            if mode == "MoveToDeletedItems" and it.folder != mbx.distinguished["deleteditems"]:
                return self.store.move_item(mbx, it, mbx.folder("deleteditems")).id
            if mode not in ("MoveToDeletedItems", "HardDelete", "SoftDelete"):
                raise ValueError(f"Unknown delete mode {mode!r}")
            if mode == "SoftDelete":
                return self.store.move_item(mbx, it, mbx.folder("recoverableitemsdeletions")).id
            self.store.remove_item(mbx, it)
            return None

    def modify_occurrence(
        self, mailbox: str, master_id: str, original_start: Any, **fields: Any
    ) -> str:
        """Turn one occurrence of a series into an exception with these fields."""
        with self.store.lock:
            mbx = self.store.mailbox(mailbox)
            master = self.store.item(mbx, master_id)
            key = _date_or_datetime(original_start)
            exc = dict(master.exceptions.get(key, {}))
            exc.update({k: v for k, v in normalize_fields(EVENT, fields).items()})
            master.exceptions[key] = {k: v for k, v in exc.items() if v is not None}
            self.store.touch(mbx, master, {"Exceptions"})
            return master.changekey()

    def delete_occurrence(self, mailbox: str, master_id: str, original_start: Any) -> str:
        with self.store.lock:
            mbx = self.store.mailbox(mailbox)
            master = self.store.item(mbx, master_id)
            key = _date_or_datetime(original_start)
            master.deleted_occurrences.append(key)
            master.exceptions.pop(key, None)
            self.store.touch(mbx, master, {"DeletedOccurrences"})
            return master.changekey()

    def backdate(self, mailbox: str, seconds: int) -> None:
        """As if every item of the mailbox had been created and last written `seconds`
        earlier (what a listing sees of a mailbox that was not just filled)."""
        with self.store.lock:
            for it in self.store.mailbox(mailbox).items.values():
                for name in ("created", "modified"):
                    moment = dt.datetime.fromisoformat(getattr(it, name).replace("Z", "+00:00"))
                    earlier = moment - dt.timedelta(seconds=seconds)
                    setattr(it, name, earlier.strftime("%Y-%m-%dT%H:%M:%SZ"))

    # -- inspection ----------------------------------------------------------------------
    def _item_dict(self, mbx: Mailbox, it: Item) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": it.id,
            "changekey": it.changekey(),
            "item_type": it.type,
            "folder": self.folder_path(mbx, mbx.folders[it.folder]),
            "created": it.created,
            "modified": it.modified,
        }
        d.update(json.loads(json.dumps(it.fields)))
        d["extended"] = [{**p["uri"], "Value": p["value"]} for p in it.ext.values()]
        if it.exceptions:
            d["exceptions"] = json.loads(json.dumps(it.exceptions))
        if it.deleted_occurrences:
            d["deleted_occurrences"] = list(it.deleted_occurrences)
        return d

    def items(self, mailbox: str, folder: str = "contacts") -> list[dict[str, Any]]:
        """Every item of a folder with all its properties, as plain dicts."""
        with self.store.lock:
            mbx = self.store.mailbox(mailbox)
            f = self._folder(mbx, folder)
            return [self._item_dict(mbx, mbx.items[i]) for i in f.items]

    def item(self, mailbox: str, item_id: str) -> dict[str, Any]:
        with self.store.lock:
            mbx = self.store.mailbox(mailbox)
            return self._item_dict(mbx, self.store.item(mbx, item_id))

    def occurrences(
        self, mailbox: str, master_id: str, start: dt.datetime, end: dt.datetime
    ) -> list[dict[str, Any]]:
        """What CalendarView would show of a series between start and end."""
        from .ewsbase import expand

        with self.store.lock:
            mbx = self.store.mailbox(mailbox)
            master = self.store.item(mbx, master_id)
            out = []
            for occ in expand(master, start.astimezone(dt.UTC), end.astimezone(dt.UTC)):
                out.append(
                    {
                        "id": occ.id,
                        "original_start": occ.original_start,
                        "type": "Exception" if occ.is_exception else "Occurrence",
                        **occ.fields,
                    }
                )
            return out

    # -- faults and counters -------------------------------------------------------------
    def add_fault(
        self,
        kind: str,
        operation: str | None = None,
        mailbox: str | None = None,
        count: int = 1,
        back_off_ms: int = 30000,
        delay: float = 0.0,
    ) -> FaultRule:
        """Make the next `count` matching requests fail; see faults.KINDS."""
        return self.faults.add(kind, operation, mailbox, count, back_off_ms, delay)

    def clear_faults(self) -> None:
        self.faults.clear()

    def request_count(self, operation: str | None = None, mailbox: str | None = None) -> int:
        return self.counters.count(operation, mailbox)

    def counts(self) -> dict[str, dict[str, int]]:
        return self.counters.snapshot()

    def handler_seconds(self) -> float:
        """Seconds spent inside the EWS handlers since the counters were last reset."""
        return self.counters.handler_seconds

    def reset_counters(self) -> None:
        self.counters.reset()

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: str | None = None) -> None:
        """Write the whole organisation to JSON (atomically); no-op without a file."""
        path = path or self.data_file
        if not path:
            return
        data = self.store.to_json()
        with self._save_lock:
            tmp = f"{path}.tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
            os.replace(tmp, path)


__all__ = [
    "BY_NAME",
    "VERSIONS",
    "Occurrence",
    "SimError",
    "Simulator",
    "apply_change",
    "fill_defaults",
    "ids",
    "occurrence_fields",
]
