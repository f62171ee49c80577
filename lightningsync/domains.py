"""Which reps' mailboxes the service account serves (SPEC §2, Additional domains): those whose
email domain is the service account's or one Setup lists. A rep outside them is not synced;
the error report and the status page name the domain to add."""

from __future__ import annotations

from dataclasses import dataclass

from lightningsync.effective import syncing_users
from lightningsync.models import LightningSyncSetup, User


def domain_of(email: str) -> str:
    """The email's domain, lower-cased ("" when there is none)."""
    local, at, domain = email.strip().rpartition("@")
    return domain.lower() if at and local else ""


def recognised_domains(setup: LightningSyncSetup) -> list[str]:
    """The service account's domain (from user@domain.tld; a DOMAIN\\user name has none) and
    the additional domains, without repeats, in that order."""
    own = domain_of(setup.service_account_username)
    found = [own] if own else []
    return found + [d for d in setup.additional_domain_list if d not in found]


def applies(setup: LightningSyncSetup) -> bool:
    """The rule concerns the service account only (OAuth reaches any mailbox of the tenant its
    app registration is scoped to) and needs a domain to compare with."""
    return (setup.connection_method == LightningSyncSetup.ConnectionMethod.SERVICE_ACCOUNT
            and bool(recognised_domains(setup)))


def unrecognised_reason(setup: LightningSyncSetup, email: str) -> str:
    """Why a rep with this email is not synced, or "" when their domain is recognised."""
    if not applies(setup):
        return ""
    domain = domain_of(email)
    known = recognised_domains(setup)
    if domain in known:
        return ""
    return (f"The email domain {domain or '(none)'} of {email} is not one the Exchange service "
            f"account serves ({', '.join(known)}). Add {domain or 'it'} to Additional domains "
            f"in Lightning Sync Setup if Exchange hosts that mailbox.")


@dataclass(frozen=True)
class RecognisedDomains:
    """The status row's facts: the domains served, and the syncing reps outside them."""

    domains: list[str]
    applies: bool
    outside: list[tuple[int, str, str]]  # (user id, email, reason), by email


def recognised_domains_status(setup: LightningSyncSetup | None = None) -> RecognisedDomains:
    """For the status page: stored state only, two queries whatever the number of reps."""
    setup = setup or LightningSyncSetup.load()
    if not applies(setup):
        return RecognisedDomains(recognised_domains(setup), False, [])
    ids = list(syncing_users())
    outside = []
    for uid, email in User.objects.filter(pk__in=ids).order_by("email").values_list(
            "pk", "email").iterator():
        reason = unrecognised_reason(setup, email)
        if reason:
            outside.append((uid, email, reason))
    return RecognisedDomains(recognised_domains(setup), True, outside)
