"""Permission checks of the Setup pages (SPEC §11), spelled once for every view."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from lightningsync import permissions as perms
from lightningsync.models import User

AnyUser = User | AnonymousUser


def can_view_setup(user: AnyUser) -> bool:
    """Reading Setup: "View Setup and Configuration" (editors read what they edit, too)."""
    return user.has_perms(perms.READ_SETUP) or user.has_perms(perms.EDIT_SETUP)


def can_edit_setup(user: AnyUser) -> bool:
    return user.has_perms(perms.EDIT_SETUP)


def require(user: AnyUser, needed: Iterable[str]) -> None:
    """Refuse with 403 unless the user holds every permission in `needed`."""
    if not user.has_perms(tuple(needed)):
        raise PermissionDenied


def require_view_setup(user: AnyUser) -> None:
    if not can_view_setup(user):
        raise PermissionDenied


def signed_in_user(request: HttpRequest) -> User:
    """The acting user of an admin view (`admin_view` has already refused anonymous users)."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user
