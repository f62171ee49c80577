"""A user's effective sync configuration (SPEC §3): the one rule everything else uses.

Direct assignment beats profile assignment; an inactive configuration (whichever way the user
reaches it) means the user does not sync; inactive users never sync.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping

from django.db.models import Q

from lightningsync.models import (
    ConfigurationProfile,
    ConfigurationUser,
    Profile,
    SyncConfiguration,
    User,
)

# The relations from a user to its assignments' configurations: a query that reads the user
# with these (`select_related`) leaves `effective_configuration` nothing to read.
ASSIGNMENTS = (
    "configuration_assignment__configuration",
    "profile__configuration_assignment__configuration",
)


def effective_configuration(user: User, *, read_with_assignments: bool = False
                            ) -> SyncConfiguration | None:
    """`read_with_assignments`: the user was just read with `ASSIGNMENTS`, and those are
    used (an instance that merely was assigned once may hold an assignment since moved)."""
    loaded = _loaded_assignments(user) if read_with_assignments else None
    if loaded is None:
        return effective_configurations([user]).get(user.pk)
    if not user.is_active:
        return None
    return _governed([(user.pk, user.profile_id)], *loaded).get(user.pk)


def _loaded_assignments(
    user: User,
) -> tuple[dict[int, SyncConfiguration], dict[int, SyncConfiguration]] | None:
    """The user's direct and profile assignments as `_governed` takes them, when the user
    was read with `ASSIGNMENTS`; None when they were not (a query is needed)."""
    if not User.configuration_assignment.is_cached(user):
        return None
    by_user, by_profile = {}, {}
    with contextlib.suppress(ConfigurationUser.DoesNotExist):
        by_user[user.pk] = user.configuration_assignment.configuration
    if user.profile_id is not None:
        if not User.profile.is_cached(user):
            return None
        profile = user.profile
        if profile is None or not Profile.configuration_assignment.is_cached(profile):
            return None
        with contextlib.suppress(ConfigurationProfile.DoesNotExist):
            by_profile[user.profile_id] = profile.configuration_assignment.configuration
    return by_user, by_profile


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
    return _governed(((u.pk, u.profile_id) for u in users), by_user, by_profile)


def _governed(
    users: Iterable[tuple[int, int | None]],
    by_user: Mapping[int, SyncConfiguration],
    by_profile: Mapping[int, SyncConfiguration],
) -> dict[int, SyncConfiguration]:
    """The rule: {user id: configuration} of the (active) users, given as (id, profile id),
    that an active configuration governs, from their direct and profile assignments."""
    result: dict[int, SyncConfiguration] = {}
    for user_id, profile_id in users:
        config = by_user.get(user_id)
        if config is None and profile_id is not None:
            config = by_profile.get(profile_id)
        if config is not None and config.active:
            result[user_id] = config
    return result


def syncing_users() -> dict[int, SyncConfiguration]:
    """Every active user governed by an active configuration.

    In four queries whatever the number of users (the schedule enqueues every cycle from
    this): the candidates and the org's assignments as plain ids, its few configurations
    once, shared by the users they govern (a model instance per user, with its mappings
    decoded, was most of enqueueing 10,000 users)."""
    candidates = list(User.objects.filter(is_active=True).filter(
        Q(configuration_assignment__configuration__active=True)
        | Q(
            configuration_assignment__isnull=True,
            profile__configuration_assignment__configuration__active=True,
        )
    ).values_list("id", "profile_id"))
    direct = list(ConfigurationUser.objects.values_list("user_id", "configuration_id"))
    of_profile = list(ConfigurationProfile.objects.values_list("profile_id", "configuration_id"))
    # A configuration deleted since took its assignments with it: they are no assignment.
    configs = SyncConfiguration.objects.in_bulk({c for _, c in direct} | {c for _, c in of_profile})
    by_user = {user_id: configs[c] for user_id, c in direct if c in configs}
    by_profile = {profile_id: configs[c] for profile_id, c in of_profile if c in configs}
    return _governed(candidates, by_user, by_profile)


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
