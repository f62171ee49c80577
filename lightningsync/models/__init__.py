"""The public data model: `from lightningsync.models import Contact, Event, ...`."""

from .audit import SetupAuditTrail
from .autodiscover import AutodiscoverResult
from .configuration import ConfigurationProfile, ConfigurationUser, ContactFilter, SyncConfiguration
from .connectiontest import ConnectionTestRun
from .crm import Account, Contact, Event, Lead, Profile, User
from .setup import LightningSyncSetup
from .sync import ContactLink, EventLink, FolderCursor, LightningSyncError, UserSyncState

__all__ = [
    "Account",
    "AutodiscoverResult",
    "ConfigurationProfile",
    "ConfigurationUser",
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
    "Profile",
    "SetupAuditTrail",
    "SyncConfiguration",
    "User",
    "UserSyncState",
]
