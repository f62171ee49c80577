"""Finding a user by email (commands) or by name or email (the status page's search)."""

from __future__ import annotations

from django.db.models import Q, QuerySet, Value
from django.db.models.functions import Concat, Lower

from lightningsync.models import User


def by_email(email: str) -> User | None:
    """The user whose email is `email` (case-insensitive), or None."""
    return (User.objects.annotate(email_ci=Lower("email"))
            .filter(email_ci=email.strip().lower()).order_by("pk").first())


def search(text: str, limit: int = 20) -> QuerySet[User]:
    """Users whose name, username or email contains `text` (every word of it), by name."""
    users = User.objects.annotate(
        full_name=Concat("first_name", Value(" "), "last_name"))
    for word in text.split()[:5]:
        users = users.filter(
            Q(full_name__icontains=word) | Q(email__icontains=word)
            | Q(username__icontains=word))
    return users.order_by("last_name", "first_name", "email")[:limit]
