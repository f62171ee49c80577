"""The public data model: `from lightningsync.models import Contact, Event, ...`."""

from .audit import SetupAuditTrail
from .configuration import ConfigurationProfile, ConfigurationUser, ContactFilter, SyncConfiguration
from .crm import Account, Contact, Event, Lead, Profile, User
from .setup import LightningSyncSetup
from .sync import ContactLink, EventLink, FolderCursor, LightningSyncError, UserSyncState

__all__ = [
    "Account",
    "ConfigurationProfile",
    "ConfigurationUser",
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
