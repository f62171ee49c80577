"""Every validation rule of Setup and sync configurations (SPEC §2, §3, §14), in one place.

The Setup pages, configuration import and the commands call these; each raises
`django.core.exceptions.ValidationError` (or returns a message) an admin can act on.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from lightningsync.fieldmaps import Catalogue, compatible

# --- Text --------------------------------------------------------------------------------

# C0 and C1 controls, DEL, and lone surrogates (JSON can spell "\ud800"; no database stores
# it). Tab and line breaks are text where a value may span lines (a description, a PEM).
_BAD_CHAR_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_BAD_CHAR_MULTILINE_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _describe(char: str) -> str:
    code = f"U+{ord(char):04X}"
    if char == "\x00":
        return f"a NUL character ({code})"
    if char in "\r\n":
        return f"a line break ({code})"
    if "\ud800" <= char <= "\udfff":
        return f"an unpaired surrogate ({code})"
    return f"the control character {code}"


def text_problem(value: str, *, max_length: int | None, multiline: bool = False) -> str | None:
    """Why `value` cannot be stored as text, or None when it can.

    PostgreSQL refuses NUL and values longer than their column with a DataError, SQLite
    stores both: checking here first makes every database refuse the same input with the
    same message, whether it came from a page or a file.
    """
    bad = (_BAD_CHAR_MULTILINE_RE if multiline else _BAD_CHAR_RE).search(value)
    if bad is not None:
        return f"Contains {_describe(bad.group())} at character {bad.start() + 1}; remove it."
    if max_length is not None and len(value) > max_length:
        return f"Longer than {max_length} characters (this one has {len(value)}); shorten it."
    return None


def quoted(value: object, limit: int = 60) -> str:
    """A value as an error message may echo it: quoted, control characters escaped, clipped."""
    text = value if isinstance(value, str) else repr(value)
    text = _BAD_CHAR_RE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"“{text}”"


# --- Setup -------------------------------------------------------------------------------

_DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$"
)
_DOWN_LEVEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*\\[^\\/@\s]+$")
USERNAME_FORMS = "user@domain.tld or domain.tld\\user"


def normalize_service_account_username(value: str) -> str:
    """Accept `user@domain.tld` or `domain.tld\\user`; refuse anything else, naming both forms."""
    value = value.strip()
    if "@" in value:
        try:
            validate_email(value)
        except ValidationError:
            pass
        else:
            return value
    elif _DOWN_LEVEL_RE.match(value):
        domain = value.split("\\", 1)[0].lower()
        if "." not in domain or is_domain_name(domain):
            return value
    raise ValidationError(
        f"“{value}” is not a service account user name. Use {USERNAME_FORMS}.",
        code="username_format",
    )


def is_domain_name(value: str) -> bool:
    return bool(_DOMAIN_RE.match(value))


def normalize_domains(value: str | Iterable[str]) -> list[str]:
    """Comma-separated (or listed) domains: validated, lower-cased, de-duplicated, in order."""
    parts = value.split(",") if isinstance(value, str) else list(value)
    seen: list[str] = []
    bad: list[str] = []
    for raw in parts:
        domain = raw.strip().lower().rstrip(".")
        if not domain:
            continue
        if not is_domain_name(domain):
            bad.append(raw.strip())
        elif domain not in seen:
            seen.append(domain)
    if bad:
        raise ValidationError(
            "Not a domain name: %(bad)s. Enter domains such as example.com, separated by commas.",
            code="domain",
            params={"bad": ", ".join(quoted(b) for b in bad)},
        )
    return seen


def normalize_category(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValidationError(
            "Enter the Outlook category reps use to select events.", code="required"
        )
    if len(value) > 255 or "," in value or ";" in value:
        raise ValidationError(
            "A category name has at most 255 characters and no commas or semicolons.",
            code="category",
        )
    return value


def validate_ca_bundle(pem: str) -> str:
    """A PEM bundle of one or more certificates (parsed, so a typo is caught at save time)."""
    pem = pem.strip()
    if not pem:
        return ""
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(pem.encode())
    except ValueError as exc:
        raise ValidationError(
            "The trusted CA bundle is not valid PEM: paste one or more "
            "“-----BEGIN CERTIFICATE-----” blocks.",
            code="ca_bundle",
        ) from exc
    if not certs:
        raise ValidationError("The trusted CA bundle holds no certificate.", code="ca_bundle")
    return pem + "\n"


OAUTH_NEEDS_VERIFICATION = (
    "OAuth 2.0 is switched on only once Lightning Sync got a token from Microsoft and read a "
    "mailbox with it: save the OAuth 2.0 settings, then use “Verify and enable” (or "
    "manage.py lightningsync_setup --method oauth2 --enable)."
)


@dataclass(frozen=True)
class SetupState:
    """The values that decide whether Setup may be enabled (from a form, an import or a command)."""

    enabled: bool
    connection_method: str
    username: str
    has_password: bool
    ews_url: str
    autodiscover: bool
    tenant_id: str
    client_id: str
    has_oauth_credential: bool
    oauth_token_acquired: bool


def validate_setup(state: SetupState) -> dict[str, list[str]]:
    """Cross-field rules; returns {field: [messages]} (empty when valid)."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if state.connection_method == "service_account":
        if state.ews_url and state.autodiscover:
            add("ews_url", "Give an EWS URL or choose Autodiscover, not both.")
        if state.autodiscover and state.username and "@" not in state.username:
            add(
                "autodiscover",
                "Autodiscover finds the server from the service account's email domain; "
                "with a domain\\user name, enter the EWS URL instead.",
            )
        if state.enabled:
            if not state.username:
                add(
                    "service_account_username",
                    "Enter the service account user name to enable sync.",
                )
            if not state.has_password:
                add(
                    "service_account_password", "Enter the service account password to enable sync."
                )
            if not state.ews_url and not state.autodiscover:
                add("ews_url", "Enter the EWS URL or choose Autodiscover to enable sync.")
    elif state.connection_method == "oauth2" and state.enabled:
        if not state.tenant_id:
            add("oauth_tenant_id", "Enter the tenant ID to enable sync.")
        if not state.client_id:
            add("oauth_client_id", "Enter the application (client) ID to enable sync.")
        if not state.has_oauth_credential:
            add("oauth_client_secret", "Enter a client secret or certificate to enable sync.")
        if not state.oauth_token_acquired:
            add("enabled", OAUTH_NEEDS_VERIFICATION)
    return errors


# --- Configurations ----------------------------------------------------------------------

MAX_LAST_N_DAYS = 180
# The file format's LAST_N_DAYS:30 and the seed's "LAST 30 DAYS" are both accepted.
_LAST_N_RE = re.compile(r"^LAST_N_DAYS:(-?\d+)$|^LAST_(-?\d+)_DAYS$")


def normalize_date_filter(value: str) -> str:
    """TODAY, LAST_MONTH or LAST_N_DAYS:N with 1 <= N <= 180."""
    value = value.strip().upper().replace(" ", "_")
    if value in ("TODAY", "LAST_MONTH"):
        return value
    match = _LAST_N_RE.match(value)
    if match:
        days = int(match.group(1) or match.group(2))
        if 1 <= days <= MAX_LAST_N_DAYS:
            return f"LAST_N_DAYS:{days}"
        raise ValidationError(
            "LAST %(days)s DAYS is out of range: choose from 1 to %(max)s days.",
            code="date_filter_range",
            params={"days": days, "max": MAX_LAST_N_DAYS},
        )
    if value.startswith("LAST_N_DAYS"):
        # The admin chose LAST N DAYS but N is missing or not a number (a form's empty box).
        raise ValidationError(
            "LAST N DAYS needs a whole number of days from 1 to %(max)s.",
            code="date_filter_days",
            params={"max": MAX_LAST_N_DAYS},
        )
    raise ValidationError(
        "“%(value)s” is not an event date filter. Use TODAY, LAST_MONTH or LAST_N_DAYS:N "
        "(N from 1 to 180).",
        code="date_filter",
        params={"value": value},
    )


def event_window_start(date_filter: str, now: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """The earliest end time an event may have to sync, as an aware datetime (SPEC §3)."""
    local_today = now.astimezone(tz).date()
    if date_filter == "TODAY":
        day = local_today
    elif date_filter == "LAST_MONTH":
        first_of_this = local_today.replace(day=1)
        day = (first_of_this - dt.timedelta(days=1)).replace(day=1)
    else:
        days = int(normalize_date_filter(date_filter).split(":")[1])
        day = local_today - dt.timedelta(days=days)
    return dt.datetime.combine(day, dt.time.min, tzinfo=tz)


def validate_ownership(value: str) -> str:
    if value == "selected":
        raise ValidationError(
            "“Selected contacts” needs “User's records”: without it no contact would sync. "
            "Choose Selected contacts with User's records, or All contacts.",
            code="ownership",
        )
    if value not in ("users_records", "all"):
        raise ValidationError(
            "Unknown contact ownership “%(value)s”: use users_records or all.",
            code="ownership",
            params={"value": value},
        )
    return value


def validate_mapping(catalogue: Catalogue, mapping: Mapping[str, str]) -> dict[str, str]:
    """Check a mapping table; returns it cleaned (empty stays empty = the defaults)."""
    if not mapping:
        return {}
    problems: list[str] = []
    label = catalogue.object_label
    used: dict[str, str] = {}
    for crm_name, exchange_name in mapping.items():
        crm = catalogue.crm_fields.get(crm_name)
        exchange = catalogue.exchange_fields.get(exchange_name)
        if crm is None:
            problems.append(f"{quoted(crm_name)} is not a mappable {label} field.")
            continue
        if exchange is None:
            problems.append(f"{quoted(exchange_name)} is not an Exchange {label} field.")
            continue
        if exchange_name in used:
            problems.append(
                f"Exchange field {exchange.label} ({exchange_name}) is mapped twice: "
                f"from {catalogue.crm_fields[used[exchange_name]].label} and from {crm.label}."
            )
        used[exchange_name] = crm_name
        if not compatible(crm.kind, exchange.kind):
            problems.append(
                f"{crm.label} ({crm.kind}) cannot map to {exchange.label} ({exchange.kind})."
            )
    for crm_name, exchange_name in catalogue.fixed.items():
        if mapping.get(crm_name) != exchange_name:
            crm_label = catalogue.crm_fields[crm_name].label
            problems.append(f"{crm_label} is used for matching and must map to {exchange_name}.")
    if problems:
        raise ValidationError(problems, code="mapping")
    return dict(mapping)


def validate_profiles_free(profile_names_taken: Mapping[str, str], configuration_name: str) -> None:
    """A profile may belong to one configuration only.

    `profile_names_taken` maps each selected profile already assigned elsewhere to the name
    of the configuration holding it.
    """
    clashes = [
        f"{profile} (in “{other}”)"
        for profile, other in sorted(profile_names_taken.items())
        if other != configuration_name
    ]
    if clashes:
        raise ValidationError(
            "A profile can be in one sync configuration only; remove it from the other first: "
            + ", ".join(clashes)
            + ".",
            code="profile_taken",
        )
