"""The public data model: `from lightningsync.models import Contact, Event, ...`."""

from .audit import SetupAuditTrail
from .autodiscover import AutodiscoverResult
from .configuration import ConfigurationProfile, ConfigurationUser, ContactFilter, SyncConfiguration
from .connectiontest import ConnectionTestRun
from .crm import Account, Contact, Event, Lead, Profile, User
from .setup import LightningSyncSetup
from .status import ConnectionResult, OrgStatusSnapshot, SyncActivity
from .sync import ContactLink, EventLink, FolderCursor, LightningSyncError, UserSyncState

__all__ = [
    "Account",
    "AutodiscoverResult",
    "ConfigurationProfile",
    "ConfigurationUser",
    "ConnectionResult",
    "ConnectionTestRun",
    "Contact",
    "ContactFilter",
    "ContactLink",
    "Event",
    "EventLink",
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
