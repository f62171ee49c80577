"""The OAuth 2.0 check behind "Verify and enable" and `lightningsync_setup --method oauth2
--enable` (SPEC §2): Setup's OAuth settings as they are saved, a token, and one mailbox of a
user who syncs read through Microsoft Graph. Only a success lets the method be switched on."""

from __future__ import annotations

from lightningsync.effective import syncing_users
from lightningsync.models import LightningSyncSetup, User

from ..mailbox import settings_for
from ..transports.connect import OAUTH2
from ..transports.graph.access import check_access
from ..transports.protocol import ErrorKind, TransportError


def mailbox_to_check() -> str:
    """The mailbox of the first user (by id) a sync configuration applies to."""
    ids = sorted(syncing_users())
    email = (
        User.objects.filter(pk__in=ids, is_active=True).exclude(email="")
        .order_by("pk").values_list("email", flat=True).first()
    )
    if not email:
        raise TransportError(
            ErrorKind.CONFIGURATION,
            "No user with an email address is in a sync configuration yet: add one (Sync "
            "Configurations), or name a mailbox to check (--check-mailbox).",
        )
    return str(email)


def verify_oauth_access(setup: LightningSyncSetup, mailbox: str | None = None) -> str:
    """Check Setup's saved OAuth settings against Microsoft; returns the mailbox read.

    Raises TransportError with the step that failed and what to fix."""
    missing = [label for label, value in (
        ("the tenant ID", setup.oauth_tenant_id),
        ("the application (client) ID", setup.oauth_client_id),
        ("a client secret or certificate", setup.has_oauth_credential),
    ) if not value]
    if missing:
        raise TransportError(
            ErrorKind.CONFIGURATION, f"Enter and save {' and '.join(missing)} first."
        )
    target = mailbox or mailbox_to_check()
    check_access(settings_for(setup, target, method=OAUTH2))
    return target
