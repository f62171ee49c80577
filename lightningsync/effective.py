"""A user's effective sync configuration (SPEC §3): the one rule everything else uses.

Direct assignment beats profile assignment; an inactive configuration (whichever way the user
reaches it) means the user does not sync; inactive users never sync.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q

from lightningsync.models import ConfigurationProfile, ConfigurationUser, SyncConfiguration, User


def effective_configuration(user: User) -> SyncConfiguration | None:
    return effective_configurations([user]).get(user.pk)


def effective_configurations(users: Iterable[User]) -> dict[int, SyncConfiguration]:
    """{user id: configuration} for the given users that sync, in two queries at most."""
    users = [u for u in users if u.is_active]
    if not users:
        return {}
    user_ids = [u.pk for u in users]
    profile_ids = {u.profile_id for u in users if u.profile_id is not None}
    by_user = {
        a.user_id: a.configuration
        for a in ConfigurationUser.objects.filter(user_id__in=user_ids).select_related(
            "configuration"
        )
    }
    by_profile = {
        p.profile_id: p.configuration
        for p in ConfigurationProfile.objects.filter(profile_id__in=profile_ids).select_related(
            "configuration"
        )
    }
    result: dict[int, SyncConfiguration] = {}
    for u in users:
        config = by_user.get(u.pk)
        if config is None and u.profile_id is not None:
            config = by_profile.get(u.profile_id)
        if config is not None and config.active:
            result[u.pk] = config
    return result


def syncing_users() -> dict[int, SyncConfiguration]:
    """Every active user governed by an active configuration."""
    users = User.objects.filter(is_active=True).filter(
        Q(configuration_assignment__configuration__active=True)
        | Q(
            configuration_assignment__isnull=True,
            profile__configuration_assignment__configuration__active=True,
        )
    )
    return effective_configurations(users.only("id", "profile_id", "is_active"))


def users_of(configuration: SyncConfiguration) -> list[int]:
    """Ids of the active users whose effective configuration is `configuration`."""
    candidates = (
        User.objects.filter(is_active=True)
        .filter(
            Q(configuration_assignment__configuration=configuration)
            | Q(profile__configuration_assignment__configuration=configuration)
        )
        .only("id", "profile_id", "is_active")
    )
    governed = effective_configurations(candidates)
    return sorted(uid for uid, config in governed.items() if config.pk == configuration.pk)
