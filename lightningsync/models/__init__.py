"""The public data model: `from lightningsync.models import Contact, Event, ...`."""

from .audit import SetupAuditTrail
from .configuration import ConfigurationProfile, ConfigurationUser, ContactFilter, SyncConfiguration
from .crm import Account, Contact, Event, Lead, Profile, User
from .setup import LightningSyncSetup
from .status import ConnectionResult, OrgStatusSnapshot, SyncActivity
from .sync import ContactLink, FolderCursor, LightningSyncError, UserSyncState

__all__ = [
    "Account",
    "ConfigurationProfile",
    "ConfigurationUser",
    "ConnectionResult",
    "Contact",
    "ContactFilter",
    "ContactLink",
    "Event",
    "FolderCursor",
    "Lead",
    "LightningSyncError",
    "LightningSyncSetup",
    "OrgStatusSnapshot",
    "Profile",
    "SetupAuditTrail",
    "SyncActivity",
    "SyncConfiguration",
    "User",
    "UserSyncState",
]
