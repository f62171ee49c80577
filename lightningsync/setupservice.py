"""Reading and changing Lightning Sync Setup (SPEC §2, §14): the one door to the Setup row.

The Setup page, `manage.py lightningsync_setup` and configuration import all go through
`apply_setup`, so a setting obeys the same rules and leaves the same audit entries whichever
way an admin changes it. Settings are addressed by their path in the configuration file's
`"setup"` section (`"service_account.username"`), which is also how errors are keyed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from lightningsync import configrules, outbound
from lightningsync.audit import record_changes
from lightningsync.models import LightningSyncSetup, User
from lightningsync.models.setup import DEFAULT_AUTHORITY_URL, DEFAULT_GRAPH_URL
from lightningsync.secrets import SecretUnavailable
from lightningsync.signals import connection_method_changed

AUDIT_SECTION = "Lightning Sync Setup"

# Secrets are never part of a section; they arrive separately under these names.
SECRET_PATHS = {
    "service_account_password": "service_account.password",
    "oauth_client_secret": "oauth2.client_secret",
    "oauth_certificate": "oauth2.certificate",
}
SECRET_LABELS = {
    "service_account_password": "Service account password",
    "oauth_client_secret": "Client secret",
    "oauth_certificate": "Client certificate",
}
_SECRET_FIELDS = {
    "service_account_password": "service_account_password_encrypted",
    "oauth_client_secret": "oauth_client_secret_encrypted",
    "oauth_certificate": "oauth_certificate_encrypted",
}
_TOKEN_LABEL = "OAuth 2.0 access accepted"
# Changing who we are to Microsoft voids the proof that a token could be acquired.
_OAUTH_IDENTITY_FIELDS = ("oauth_tenant_id", "oauth_client_id", "authority_url")
_GUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


# --- parsing one value --------------------------------------------------------------------


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationError("Use true or false.", code="boolean")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError("Use a text value.", code="text")
    return value.strip()


def _choice(choices: type[LightningSyncSetup.ConnectionMethod] | type[LightningSyncSetup.AuthType]):
    allowed = [c.value for c in choices]

    def parse(value: Any) -> str:
        if value not in allowed:
            raise ValidationError(f"“{value}” is not one of: {', '.join(allowed)}.", code="choice")
        return str(value)

    return parse


def _username(value: Any) -> str:
    text = _text(value)
    return configrules.normalize_service_account_username(text) if text else ""


# One DNS label: a host name without a dot (`mail`, `EXCH01`).
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.IGNORECASE)


def _as_dotted(url: str) -> str:
    """`url` with a single-label host given a dotted name, for Django's URL check, which
    wants a dot: on premises Exchange is often reached by its intranet name
    (https://mail/EWS/Exchange.asmx). Anything else, an address spelled as a number
    included, is left to that check as it is."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return url
    if not _LABEL.fullmatch(host) or outbound.literal_address(host) is not None:
        return url
    return parts._replace(netloc=f"{host}.intranet" + (f":{port}" if port else "")).geturl()


def _url(default: str, *, what: str, example: str) -> Callable[[Any], str]:
    """An outbound URL: well-formed, and allowed by `outbound.url_refusal` (SPEC §13)."""
    validate = URLValidator(schemes=["http", "https"])

    def parse(value: Any) -> str:
        text = _text(value).rstrip("/")
        if not text:
            return default
        refusal = outbound.url_refusal(text, what)
        if refusal:
            raise ValidationError(refusal, code="url")
        try:
            validate(_as_dotted(text))
        except ValidationError:
            raise ValidationError(
                f"{outbound.excerpt(text, quoted=True)} is not a valid {what}: enter an "
                f"https:// address such as {example}.",
                code="url",
            ) from None
        return text

    return parse


def _domains(value: Any) -> str:
    if not isinstance(value, str | list | tuple) or (
        not isinstance(value, str) and not all(isinstance(v, str) for v in value)
    ):
        raise ValidationError("List the domains as text, separated by commas.", code="domain")
    return ",".join(configrules.normalize_domains(value))


def _ca_bundle(value: Any) -> str:
    return configrules.validate_ca_bundle(_text(value))


def _tenant_id(value: Any) -> str:
    text = _text(value)
    if text and not (_GUID_RE.match(text) or configrules.is_domain_name(text.lower())):
        raise ValidationError(
            f"“{text}” is not a tenant ID: enter the directory (tenant) ID, a GUID such as "
            "00000000-0000-0000-0000-000000000000, or the tenant's domain such as "
            "contoso.onmicrosoft.com.",
            code="tenant_id",
        )
    return text.lower()


def _client_id(value: Any) -> str:
    text = _text(value)
    if text and not _GUID_RE.match(text):
        raise ValidationError(
            f"“{text}” is not an application (client) ID: enter the GUID shown on the app "
            "registration's Overview page, such as 00000000-0000-0000-0000-000000000000.",
            code="client_id",
        )
    return text.lower()


def _category(value: Any) -> str:
    return configrules.normalize_category(_text(value))


_KEY_BLOCK_RE = re.compile(
    r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.+?-----END \1PRIVATE KEY-----", re.DOTALL
)


def _certificate(pem: str) -> str:
    """A client certificate credential must carry one certificate and its private key."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    text = pem.strip()
    missing: list[str] = []
    try:
        x509.load_pem_x509_certificates(text.encode())
    except ValueError:
        missing.append("a “-----BEGIN CERTIFICATE-----” block")
    key = _KEY_BLOCK_RE.search(text)
    try:
        if key is None:
            raise ValueError("no key block")
        load_pem_private_key(key.group(0).encode(), password=None)
    except (ValueError, TypeError):
        missing.append("an unencrypted private key block")
    if missing:
        raise ValidationError(
            f"The client certificate must be PEM text holding {' and '.join(missing)}: paste "
            "the certificate and its private key (without a passphrase).",
            code="certificate",
        )
    return text + "\n"


# --- the settings a section holds ---------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    path: str
    field: str
    label: str
    parse: Callable[[Any], Any]
    exported: bool = True


SETTINGS: tuple[Setting, ...] = (
    Setting("enabled", "enabled", "Enable Lightning Sync", _boolean),
    Setting(
        "connection_method",
        "connection_method",
        "Connection method",
        _choice(LightningSyncSetup.ConnectionMethod),
    ),
    Setting(
        "service_account.username",
        "service_account_username",
        "Service account user name",
        _username,
    ),
    Setting(
        "service_account.ews_url",
        "ews_url",
        "EWS URL",
        _url("", what="EWS URL", example="https://mail.example.com/EWS/Exchange.asmx"),
    ),
    Setting("service_account.autodiscover", "autodiscover", "Autodiscover", _boolean),
    Setting(
        "service_account.auth", "auth_type", "Authentication", _choice(LightningSyncSetup.AuthType)
    ),
    Setting(
        "service_account.additional_domains", "additional_domains", "Additional domains", _domains
    ),
    # Not in the file format: a CA bundle belongs to one installation's network.
    Setting(
        "service_account.ca_bundle", "ca_bundle", "Trusted CA bundle", _ca_bundle, exported=False
    ),
    Setting("oauth2.tenant_id", "oauth_tenant_id", "Tenant ID", _tenant_id),
    Setting("oauth2.client_id", "oauth_client_id", "Application (client) ID", _client_id),
    Setting(
        "oauth2.graph_url",
        "graph_url",
        "Graph base URL",
        _url(DEFAULT_GRAPH_URL, what="Graph base URL", example=DEFAULT_GRAPH_URL),
    ),
    Setting(
        "oauth2.authority_url",
        "authority_url",
        "Authority host",
        _url(DEFAULT_AUTHORITY_URL, what="authority host", example=DEFAULT_AUTHORITY_URL),
    ),
    Setting(
        "event_selection.enabled",
        "event_selection_enabled",
        "Event selection (Lightning for Outlook)",
        _boolean,
    ),
    Setting("event_selection.category", "event_category", "Event selection category", _category),
)
_BY_PATH = {s.path: s for s in SETTINGS}
_GROUPS = {p.split(".", 1)[0] for p in _BY_PATH if "." in p}
LABELS: dict[str, str] = {
    **{s.field: s.label for s in SETTINGS},
    **{_SECRET_FIELDS[n]: label for n, label in SECRET_LABELS.items()},
    "oauth_token_acquired_at": _TOKEN_LABEL,
    "org_id": "Org ID",
}

# Where `configrules.validate_setup` reports a problem, as a section path.
_RULE_PATHS = {
    "enabled": "enabled",
    "service_account_username": "service_account.username",
    "service_account_password": SECRET_PATHS["service_account_password"],
    "ews_url": "service_account.ews_url",
    "autodiscover": "service_account.autodiscover",
    "oauth_tenant_id": "oauth2.tenant_id",
    "oauth_client_id": "oauth2.client_id",
    "oauth_client_secret": SECRET_PATHS["oauth_client_secret"],
}


# --- export ---------------------------------------------------------------------------------


def export_setup(setup: LightningSyncSetup) -> dict[str, Any]:
    """The `"setup"` section of the configuration file (format version 1); never a secret."""
    return {
        "enabled": setup.enabled,
        "connection_method": setup.connection_method,
        "service_account": {
            "username": setup.service_account_username,
            "ews_url": setup.ews_url,
            "autodiscover": setup.autodiscover,
            "auth": setup.auth_type,
            "additional_domains": setup.additional_domain_list,
        },
        "oauth2": {
            "tenant_id": setup.oauth_tenant_id,
            "client_id": setup.oauth_client_id,
            "graph_url": setup.graph_url,
            "authority_url": setup.authority_url,
        },
        "event_selection": {
            "enabled": setup.event_selection_enabled,
            "category": setup.event_category,
        },
    }


def secret_status(setup: LightningSyncSetup) -> dict[str, bool]:
    """Which secrets are stored: all a page or a command may ever say about them."""
    return {name: bool(getattr(setup, field)) for name, field in _SECRET_FIELDS.items()}


# --- apply ----------------------------------------------------------------------------------


def _flatten(section: Mapping[str, Any], errors: dict[str, list[str]]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in section.items():
        if key in _GROUPS:
            if not isinstance(value, Mapping):
                errors.setdefault(key, []).append("Use an object of settings here.")
                continue
            for sub, sub_value in value.items():
                flat[f"{key}.{sub}"] = sub_value
        else:
            flat[str(key)] = value
    for path in flat:
        if path not in _BY_PATH:
            errors.setdefault(path, []).append(
                "Unknown setting. Known settings: " + ", ".join(s.path for s in SETTINGS) + "."
            )
    return {p: v for p, v in flat.items() if p in _BY_PATH}


def _ca_summary(pem: str) -> str:
    if not pem:
        return ""
    count = pem.count("-----BEGIN CERTIFICATE-----")
    digest = hashlib.sha256(pem.encode()).hexdigest()[:16]
    return f"{count} certificate{'s' if count != 1 else ''} (SHA-256 {digest}…)"


def _snapshot(setup: LightningSyncSetup) -> dict[str, Any]:
    """Audit view of the row: ciphertext stands in for secrets (recorded as "changed")."""
    values: dict[str, Any] = {s.field: getattr(setup, s.field) for s in SETTINGS}
    values["ca_bundle"] = _ca_summary(setup.ca_bundle)
    values["additional_domains"] = setup.additional_domain_list
    for field in _SECRET_FIELDS.values():
        values[field] = getattr(setup, field)
    acquired = setup.oauth_token_acquired_at
    values["oauth_token_acquired_at"] = acquired.isoformat() if acquired else ""
    return values


def _state(setup: LightningSyncSetup) -> configrules.SetupState:
    return configrules.SetupState(
        enabled=setup.enabled,
        connection_method=setup.connection_method,
        username=setup.service_account_username,
        has_password=setup.has_service_account_password,
        ews_url=setup.ews_url,
        autodiscover=setup.autodiscover,
        tenant_id=setup.oauth_tenant_id,
        client_id=setup.oauth_client_id,
        has_oauth_credential=setup.has_oauth_credential,
        oauth_token_acquired=setup.oauth_token_acquired_at is not None,
    )


def _parse_secrets(
    secrets: Mapping[str, str], clear: set[str], errors: dict[str, list[str]]
) -> dict[str, str]:
    unknown = (set(secrets) | clear) - set(_SECRET_FIELDS)
    if unknown:
        raise ValueError(f"Unknown secret name(s): {', '.join(sorted(unknown))}")
    parsed: dict[str, str] = {}
    for name, value in secrets.items():
        path = SECRET_PATHS[name]
        if name in clear:
            errors.setdefault(path, []).append(
                f"Enter a new {SECRET_LABELS[name].lower()} or clear it, not both."
            )
        elif not isinstance(value, str) or not value.strip():
            errors.setdefault(path, []).append(
                f"The {SECRET_LABELS[name].lower()} is empty; enter it, or clear it on purpose."
            )
        elif name == "oauth_certificate":
            try:
                parsed[name] = _certificate(value)
            except ValidationError as exc:
                errors.setdefault(path, []).extend(exc.messages)
        else:
            # Passwords may legitimately have edge spaces: keep them as typed (bar a newline
            # a file or a pipe adds).
            parsed[name] = value.rstrip("\r\n")
    return parsed


def _same_secret(setup: LightningSyncSetup, name: str, value: str) -> bool:
    """Whether `value` is the secret already stored: entering it again is no change (no audit
    entry, no new ciphertext), as when a script or the demo sets the same password each run.
    A stored secret the keys cannot decrypt counts as different, so it can be replaced."""
    if not getattr(setup, _SECRET_FIELDS[name]):
        return False
    try:
        stored = getattr(setup, name)()
    except SecretUnavailable:
        return False
    return hmac.compare_digest(stored.encode(), value.encode())


def apply_setup(
    section: Mapping[str, Any],
    *,
    user: User | None,
    via: str,
    secrets: Mapping[str, str] | None = None,
    clear: Iterable[str] = (),
) -> LightningSyncSetup:
    """Validate and save (part of) a `"setup"` section; all or nothing.

    Missing keys keep their current value, so a command can change one setting. `secrets`
    sets secrets (`service_account_password`, `oauth_client_secret`, `oauth_certificate`);
    `clear` removes them. Raises `ValidationError` keyed by section path when anything is
    wrong, having written nothing; otherwise saves and records one audit entry per change.
    """
    if not isinstance(section, Mapping):
        raise ValidationError({"setup": ["The setup section must be an object of settings."]})
    errors: dict[str, list[str]] = {}
    clear_set = set(clear)
    flat = _flatten(section, errors)
    parsed: dict[str, Any] = {}
    for path, raw in flat.items():
        setting = _BY_PATH[path]
        try:
            parsed[setting.field] = setting.parse(raw)
        except ValidationError as exc:
            errors.setdefault(path, []).extend(exc.messages)
    new_secrets = _parse_secrets(secrets or {}, clear_set, errors)

    with transaction.atomic():
        LightningSyncSetup.load()
        setup = LightningSyncSetup.objects.select_for_update().get(
            pk=LightningSyncSetup.SINGLETON_ID
        )
        before = _snapshot(setup)
        for field, value in parsed.items():
            setattr(setup, field, value)
        for name in clear_set:
            setattr(setup, _SECRET_FIELDS[name], "")
        for name, value in new_secrets.items():
            if not _same_secret(setup, name, value):
                getattr(setup, f"set_{name}")(value)
        if any(getattr(setup, f) != before[f] for f in _OAUTH_IDENTITY_FIELDS):
            setup.oauth_token_acquired_at = None
        for field, messages in configrules.validate_setup(_state(setup)).items():
            path = _RULE_PATHS.get(field, field)
            if path not in errors:
                errors[path] = list(messages)
        if errors:
            # Nothing was saved; the rollback also undoes a singleton row `load()` created.
            transaction.set_rollback(True)
            raise ValidationError(errors)
        setup.save()
        record_changes(
            user,
            AUDIT_SECTION,
            before,
            _snapshot(setup),
            labels=LABELS,
            secret_fields=_SECRET_FIELDS.values(),
            via=via,
        )
        _method_changed(before["connection_method"], setup.connection_method)
    return setup


def _method_changed(old: str, new: str) -> None:
    if old != new:
        transaction.on_commit(lambda: connection_method_changed.send(
            sender=LightningSyncSetup, old=old, new=new))


# --- OAuth 2.0: admin consent -----------------------------------------------------------


def admin_consent_url(setup: LightningSyncSetup, redirect_uri: str = "") -> str:
    """Where a global administrator grants the app its Graph permissions ("" until the tenant
    and client IDs are saved)."""
    if not (setup.oauth_tenant_id and setup.oauth_client_id):
        return ""
    query = {
        "client_id": setup.oauth_client_id,
        "scope": f"{setup.graph_url.rstrip('/')}/.default",
    }
    if redirect_uri:
        query["redirect_uri"] = redirect_uri
    authority = setup.authority_url.rstrip("/")
    return f"{authority}/{quote(setup.oauth_tenant_id)}/v2.0/adminconsent?{urlencode(query)}"


def enable_oauth(*, user: User | None, via: str) -> LightningSyncSetup:
    """Switch OAuth 2.0 on, after the engine acquired a token and read a mailbox with the
    saved settings ("Verify and enable"): records when, and enables sync under it."""
    with transaction.atomic():
        LightningSyncSetup.load()
        setup = LightningSyncSetup.objects.select_for_update().get(
            pk=LightningSyncSetup.SINGLETON_ID
        )
        before = _snapshot(setup)
        setup.oauth_token_acquired_at = timezone.now()
        setup.connection_method = LightningSyncSetup.ConnectionMethod.OAUTH2
        setup.enabled = True
        errors = configrules.validate_setup(_state(setup))
        if errors:
            transaction.set_rollback(True)
            raise ValidationError({_RULE_PATHS.get(f, f): m for f, m in errors.items()})
        setup.save()
        record_changes(
            user,
            AUDIT_SECTION,
            before,
            _snapshot(setup),
            labels=LABELS,
            secret_fields=_SECRET_FIELDS.values(),
            via=via,
        )
        _method_changed(before["connection_method"], setup.connection_method)
    return setup


# --- Org ID ---------------------------------------------------------------------------------


def new_org_id(*, user: User | None, via: str) -> tuple[uuid.UUID, uuid.UUID]:
    """Give this org a new ID (a cloned sandbox must not claim production's Exchange items).

    Returns (old, new).
    """
    with transaction.atomic():
        LightningSyncSetup.load()
        setup = LightningSyncSetup.objects.select_for_update().get(
            pk=LightningSyncSetup.SINGLETON_ID
        )
        old = setup.org_id
        setup.org_id = uuid.uuid4()
        setup.save(update_fields=["org_id", "updated_at"])
        record_changes(
            user,
            AUDIT_SECTION,
            {"org_id": str(old)},
            {"org_id": str(setup.org_id)},
            labels=LABELS,
            via=via,
        )
    return old, setup.org_id
