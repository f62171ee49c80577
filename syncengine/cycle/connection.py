"""How the cycle reaches a user's mailbox: Setup and the user read here, once per cycle, and
handed to the transport as plain `ConnectionSettings` (transports read no model).

A rep outside the domains the service account serves is not synced (SPEC §2): the cycle
pauses them with an entry naming the domain to add. Under Autodiscover the EWS URL is the
domain's, from `autodiscovery`'s 24-hour cache."""

from __future__ import annotations

from lightningsync import domains
from lightningsync.models import LightningSyncSetup, User

from ..errorlog import Direction, Entry, Kind, PauseUser
from ..mailbox import settings_for
from ..transports.connect import ConnectionSettings
from ..transports.protocol import ErrorKind, TransportError

ADD_DOMAIN = ("Add the domain to Additional domains in Lightning Sync Setup (if Exchange hosts "
              "that mailbox) or correct the user's email address; saving Setup resumes the sync.")


def connection_settings(setup: LightningSyncSetup, user: User) -> ConnectionSettings:
    """The settings of `user`'s mailbox under Setup as it is now."""
    if not user.email:
        raise TransportError(
            ErrorKind.CONFIGURATION, f"User {user.username} has no email address."
        )
    reason = domains.unrecognised_reason(setup, user.email)
    if reason:
        raise PauseUser(Entry(Kind.IMPERSONATION, Direction.BOTH, reason, ADD_DOMAIN,
                              detail="unrecognised domain"))
    return settings_for(setup, user.email)
