"""First sight of an Exchange contact: which CRM contact it is (SPEC §4), and accounts by name.

Candidates for a whole page are read with one query; the rules are then applied in memory,
in order: the CRM id stamped on the item (the engine's own earlier write, also after a
crash or a reset), the same email (case-insensitive), the same first + last name + account
name. A CRM contact already linked to another item of the user is never taken twice, so
matching never makes two links to one record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, Subquery, Value

from lightningsync.casefold import CaseFold, folded_forms
from lightningsync.models import Account, Contact, ContactLink, User

from ..mapping.normal import Normalized


@dataclass
class Candidate:
    contact: Contact
    in_scope: bool
    detached_link_id: int | None  # a detached link of the user to reuse when relinking


def scope_annotation(scope: Q | None) -> ExpressionWrapper | Value:
    """`in_scope` for a queryset of contacts: do they pass the configuration's filters?"""
    if scope is None or not scope:
        return Value(True, output_field=BooleanField())
    return ExpressionWrapper(scope, output_field=BooleanField())


def stamped_id(stamp: str | None) -> int | None:
    """The CRM id an item's stamp names, or None (unstamped, or a value we never wrote)."""
    try:
        return int(stamp) if stamp else None
    except ValueError:
        return None


class Matcher:
    """Matches a page of unlinked Exchange contacts against the CRM."""

    def __init__(self, user: User, scope: Q | None) -> None:
        self.user = user
        self.scope = scope
        self.by_id: dict[int, Candidate] = {}
        self.taken: set[int] = set()
        # Candidates by casefolded email and by (last, first, account) name, each list in
        # preference order: the user's own contacts first, then the oldest.
        self._by_email_key: dict[str, list[Candidate]] = {}
        self._by_name_key: dict[tuple[str, str, str], list[Candidate]] = {}
        # CRM ids stamped on items whose CRM contact no longer exists (deleted in the CRM).
        self.deleted: set[int] = set()

    def load(self, items: Iterable[tuple[str | None, Normalized]]) -> None:
        """Read every candidate for (crm stamp, exchange values) pairs in one query."""
        stamps, emails, last_names = set(), set(), set()
        for stamp, values in items:
            if (pk := stamped_id(stamp)) is not None:
                stamps.add(pk)
            if values.get("email"):
                emails.add(values["email"])
            if values.get("last_name"):
                last_names.add(values["last_name"])
        if not (stamps or emails or last_names):
            return
        links = ContactLink.objects.filter(user=self.user, contact=OuterRef("pk"))
        rows = (
            Contact.objects.annotate(email_ci=CaseFold("email"), last_ci=CaseFold("last_name"))
            .filter(Q(pk__in=stamps) | Q(email_ci__in=folded_forms(emails))
                    | Q(last_ci__in=folded_forms(last_names)))
            .exclude(Exists(links.filter(
                state__in=(ContactLink.State.ACTIVE, ContactLink.State.REMOVING))))
            .annotate(
                in_scope=scope_annotation(self.scope),
                detached_link_id=Subquery(links.values("pk")[:1]),
            )
            .select_related("account")
        )
        found = [Candidate(c, bool(c.in_scope), c.detached_link_id) for c in rows]
        unknown = stamps - {c.contact.pk for c in found}  # linked elsewhere, or deleted
        if unknown:
            self.deleted = unknown - set(
                Contact.objects.filter(pk__in=unknown).values_list("pk", flat=True))
        found.sort(key=lambda c: (c.contact.owner_id != self.user.pk, c.contact.pk))
        for candidate in found:
            contact = candidate.contact
            self.by_id[contact.pk] = candidate
            if contact.email:
                self._by_email_key.setdefault(contact.email.casefold(), []).append(candidate)
            account = contact.account.name.strip().casefold() if contact.account else ""
            key = (contact.last_name.strip().casefold(), contact.first_name.strip().casefold(),
                   account)
            self._by_name_key.setdefault(key, []).append(candidate)

    def match(
        self, stamp: str | None, values: Normalized, *, in_scope_only: bool
    ) -> Candidate | None:
        """The CRM contact for one Exchange contact, or None; claims it for this page."""
        found = self._by_stamp(stamp) or self._by_email(values, in_scope_only)
        found = found or self._by_name(values, in_scope_only)
        if found is not None:
            self.taken.add(found.contact.pk)
        return found

    def _first_free(self, candidates: list[Candidate], in_scope_only: bool) -> Candidate | None:
        for c in candidates:
            if c.contact.pk not in self.taken and (c.in_scope or not in_scope_only):
                return c
        return None

    def _by_stamp(self, stamp: str | None) -> Candidate | None:
        pk = stamped_id(stamp)
        found = self.by_id.get(pk) if pk is not None else None
        return found if found is not None and pk not in self.taken else None

    def _by_email(self, values: Normalized, in_scope_only: bool) -> Candidate | None:
        email = (values.get("email") or "").casefold()
        if not email:
            return None
        return self._first_free(self._by_email_key.get(email, []), in_scope_only)

    def _by_name(self, values: Normalized, in_scope_only: bool) -> Candidate | None:
        last = (values.get("last_name") or "").casefold()
        if not last:
            return None
        first = (values.get("first_name") or "").casefold()
        account = (values.get("account_name") or "").casefold()
        return self._first_free(self._by_name_key.get((last, first, account), []), in_scope_only)


def resolve_accounts(names: Iterable[str]) -> dict[str, Account]:
    """{casefolded name: account} for the names that exist (the oldest account wins)."""
    given = [n for n in names if n]
    wanted = {n.casefold() for n in given}
    if not wanted:
        return {}
    found: dict[str, Account] = {}
    rows = (Account.objects.annotate(name_ci=CaseFold("name"))
            .filter(name_ci__in=folded_forms(given)).order_by("pk"))
    for account in rows:
        if account.name.casefold() in wanted:
            found.setdefault(account.name.casefold(), account)
    return found
