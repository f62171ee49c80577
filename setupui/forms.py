"""Forms of the Setup pages. They only carry values: every rule lives in
`lightningsync.setupservice` / `lightningsync.configrules`, and errors come back from there
keyed by section path, which `SETUP_FORM_PATHS` maps onto form fields."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.widgets import AdminRadioSelect
from django.core.exceptions import ValidationError

from lightningsync import configjson
from lightningsync.models import LightningSyncSetup

# Form field -> the setting's path in the "setup" section (and error key).
SETUP_FORM_PATHS = {
    "enabled": "enabled",
    "connection_method": "connection_method",
    "service_account_username": "service_account.username",
    "service_account_password": "service_account.password",
    "ews_url": "service_account.ews_url",
    "autodiscover": "service_account.autodiscover",
    "auth_type": "service_account.auth",
    "ca_bundle": "service_account.ca_bundle",
    "additional_domains": "service_account.additional_domains",
    "oauth_tenant_id": "oauth2.tenant_id",
    "oauth_client_id": "oauth2.client_id",
    "oauth_client_secret": "oauth2.client_secret",
    "oauth_certificate": "oauth2.certificate",
    "graph_url": "oauth2.graph_url",
    "authority_url": "oauth2.authority_url",
    "event_selection_enabled": "event_selection.enabled",
    "event_category": "event_selection.category",
}
_FIELD_FOR_PATH = {path: name for name, path in SETUP_FORM_PATHS.items()}
# Write-only secrets: (form field, clear checkbox, setupservice secret name).
SECRET_FIELDS = (
    ("service_account_password", "clear_service_account_password", "service_account_password"),
    ("oauth_client_secret", "clear_oauth_client_secret", "oauth_client_secret"),
    ("oauth_certificate", "clear_oauth_certificate", "oauth_certificate"),
)


def _text(label: str, help_text: str, **kwargs: Any) -> forms.CharField:
    return forms.CharField(label=label, help_text=help_text, required=False, **kwargs)


def _switch(label: str, help_text: str) -> forms.BooleanField:
    return forms.BooleanField(label=label, help_text=help_text, required=False)


def _clear(what: str) -> forms.BooleanField:
    return forms.BooleanField(label=f"Clear the stored {what}", required=False)


class SetupForm(forms.Form):
    enabled = _switch(
        "Enable Lightning Sync",
        "While off, nothing syncs and each user's status says so. Turn it on once the "
        "connection below is complete.",
    )
    connection_method = forms.ChoiceField(
        label="Connection method",
        choices=LightningSyncSetup.ConnectionMethod.choices,
        widget=AdminRadioSelect(attrs={"class": "radiolist"}),
        help_text="An Exchange service account reaches Exchange Server on premises over EWS; "
        "OAuth 2.0 reaches Exchange Online mailboxes through Microsoft Graph (contacts; it "
        "is switched on by “Verify and enable” below).",
    )
    service_account_username = _text(
        "Service account user name",
        "The account with impersonation rights for the reps' mailboxes, as "
        "svcacct@example.com or example.com\\svcacct. Some networks accept only one of the "
        "two forms.",
        max_length=254,
    )
    service_account_password = _text(
        "Service account password",
        "Stored encrypted and never shown again. Leave empty to keep the stored password.",
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    clear_service_account_password = _clear("password")
    ews_url = _text(
        "EWS URL",
        "The Exchange Web Services address, such as "
        "https://mail.example.com/EWS/Exchange.asmx. Leave empty when using Autodiscover.",
        max_length=500,
    )
    autodiscover = _switch(
        "Use Autodiscover",
        "Find the EWS URL from the domain of the service account's email address instead "
        "of entering it.",
    )
    auth_type = forms.ChoiceField(
        label="Authentication",
        choices=LightningSyncSetup.AuthType.choices,
        help_text="How the service account signs in to EWS: Basic unless your Exchange "
        "server allows only NTLM.",
    )
    ca_bundle = _text(
        "Trusted CA bundle",
        "Only for servers whose certificate comes from a private certificate authority: "
        "paste its PEM certificates. Empty means the system's trusted authorities.",
        widget=forms.Textarea(attrs={"rows": 4, "class": "vLargeTextField monospace"}),
    )
    additional_domains = _text(
        "Additional domains",
        "If reps' email addresses are in domains other than the service account's, list "
        "those domains separated by commas, such as example.net, example.org.",
    )
    oauth_tenant_id = _text(
        "Tenant ID",
        "The Directory (tenant) ID of your Microsoft Entra ID, or its domain such as "
        "contoso.onmicrosoft.com.",
        max_length=100,
    )
    oauth_client_id = _text(
        "Application (client) ID",
        "The ID of the app registration Lightning Sync signs in as.",
        max_length=100,
    )
    oauth_client_secret = _text(
        "Client secret",
        "A secret of the app registration. Stored encrypted and never shown again; leave "
        "empty to keep the stored one.",
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    clear_oauth_client_secret = _clear("client secret")
    oauth_certificate = _text(
        "Client certificate",
        "Instead of a secret: the app's certificate and its private key, as PEM text. "
        "Stored encrypted and never shown again; leave empty to keep the stored one.",
        strip=False,
        widget=forms.Textarea(attrs={"rows": 4, "class": "vLargeTextField monospace"}),
    )
    clear_oauth_certificate = _clear("certificate")
    graph_url = _text(
        "Graph base URL",
        "Microsoft Graph's address. Change it only for a national cloud; empty means "
        "https://graph.microsoft.com.",
        max_length=300,
    )
    authority_url = _text(
        "Authority host",
        "Where tokens are requested. Change it only for a national cloud; empty means "
        "https://login.microsoftonline.com.",
        max_length=300,
    )
    event_selection_enabled = _switch(
        "Let reps select events (Lightning for Outlook)",
        "Reps choose which Outlook events sync by giving them the category below. Applies "
        "to sync configurations that sync only selected events.",
    )
    event_category = _text(
        "Event selection category",
        "The category that marks an event for sync. Reps apply it in any Outlook, Outlook on "
        "the web or mobile client; case does not matter.",
        max_length=255,
    )

    @classmethod
    def initial_for(cls, setup: LightningSyncSetup) -> dict[str, Any]:
        initial = {name: getattr(setup, name) for name in SETUP_FORM_PATHS if hasattr(setup, name)}
        initial["additional_domains"] = ", ".join(setup.additional_domain_list)
        for field, _, _ in SECRET_FIELDS:
            initial[field] = ""
        return initial

    def to_section(self) -> dict[str, Any]:
        """The cleaned values as a full "setup" section (plus the CA bundle)."""
        data = self.cleaned_data
        return {
            "enabled": data["enabled"],
            "connection_method": data["connection_method"],
            "service_account": {
                "username": data["service_account_username"],
                "ews_url": data["ews_url"],
                "autodiscover": data["autodiscover"],
                "auth": data["auth_type"],
                "additional_domains": data["additional_domains"],
                "ca_bundle": data["ca_bundle"],
            },
            "oauth2": {
                "tenant_id": data["oauth_tenant_id"],
                "client_id": data["oauth_client_id"],
                "graph_url": data["graph_url"],
                "authority_url": data["authority_url"],
            },
            "event_selection": {
                "enabled": data["event_selection_enabled"],
                "category": data["event_category"],
            },
        }

    def secrets_and_clear(self) -> tuple[dict[str, str], list[str]]:
        """Typed secrets (an empty box keeps the stored one) and the ones to clear."""
        secrets: dict[str, str] = {}
        clear: list[str] = []
        for field, clear_field, name in SECRET_FIELDS:
            if self.cleaned_data[clear_field]:
                clear.append(name)
            if self.cleaned_data[field]:
                secrets[name] = self.cleaned_data[field]
        return secrets, clear

    def add_service_errors(self, exc: ValidationError) -> None:
        """Put setupservice's path-keyed errors next to the fields they are about."""
        for path, messages in exc.message_dict.items():
            name = _FIELD_FOR_PATH.get(path)
            for message in messages:
                self.add_error(name, message if name else f"{path}: {message}")


class ConfigurationUploadForm(forms.Form):
    file = forms.FileField(
        label="Configuration file",
        help_text="A lightningsync-config.json downloaded from this or another org. You see "
        "what it changes before anything is applied; Setup and the sync configurations in it "
        "are then applied as one change: if any line is wrong, nothing changes.",
    )
    prune = forms.BooleanField(
        label="Delete configurations the file does not name",
        required=False,
        help_text="Without this, sync configurations that are not in the file are kept as "
        "they are.",
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > configjson.MAX_BYTES:
            raise ValidationError(configjson.TOO_LARGE, code="too_large")
        return upload
