"""Lightning Sync Setup: one row per org (SPEC §2)."""

from __future__ import annotations

import uuid

from django.db import models

from lightningsync import secrets
from lightningsync.secrets import EncryptedSecretField

DEFAULT_GRAPH_URL = "https://graph.microsoft.com"
DEFAULT_AUTHORITY_URL = "https://login.microsoftonline.com"
DEFAULT_EVENT_CATEGORY = "Salesforce"


class LightningSyncSetup(models.Model):
    class ConnectionMethod(models.TextChoices):
        SERVICE_ACCOUNT = "service_account", "Exchange service account"
        OAUTH2 = "oauth2", "OAuth 2.0 for Exchange Online"

    class AuthType(models.TextChoices):
        BASIC = "basic", "Basic"
        NTLM = "ntlm", "NTLM"

    SINGLETON_ID = 1

    enabled = models.BooleanField("Enable Lightning Sync", default=False)
    connection_method = models.CharField(
        max_length=20, choices=ConnectionMethod.choices, default=ConnectionMethod.SERVICE_ACCOUNT
    )
    # Exchange service account (EWS)
    service_account_username = models.CharField(max_length=254, blank=True)
    service_account_password_encrypted = EncryptedSecretField()
    ews_url = models.URLField("EWS URL", max_length=500, blank=True)
    autodiscover = models.BooleanField(default=False)
    auth_type = models.CharField(max_length=10, choices=AuthType.choices, default=AuthType.BASIC)
    ca_bundle = models.TextField("Trusted CA bundle (PEM)", blank=True)
    additional_domains = models.TextField(blank=True)  # normalised, comma-separated
    # OAuth 2.0 for Exchange Online (Microsoft Graph, app-only)
    oauth_tenant_id = models.CharField("Tenant ID", max_length=100, blank=True)
    oauth_client_id = models.CharField("Application (client) ID", max_length=100, blank=True)
    oauth_client_secret_encrypted = EncryptedSecretField()
    oauth_certificate_encrypted = EncryptedSecretField()
    graph_url = models.URLField("Graph base URL", max_length=300, default=DEFAULT_GRAPH_URL)
    authority_url = models.URLField("Authority host", max_length=300, default=DEFAULT_AUTHORITY_URL)
    oauth_token_acquired_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Event selection (the org-level "Lightning for Outlook" switch)
    event_selection_enabled = models.BooleanField(default=False)
    event_category = models.CharField(max_length=255, default=DEFAULT_EVENT_CATEGORY)
    org_id = models.UUIDField("Org ID", default=uuid.uuid4, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Lightning Sync Setup"
        verbose_name_plural = "Lightning Sync Setup"
        default_permissions = ()
        permissions = [
            ("customize_application", "Customize Application"),
            ("view_setup", "View Setup and Configuration"),
            ("manage_exchange_configurations", "Manage Exchange Configurations"),
            ("manage_users", "Manage Users"),
            ("run_reports", "Run Reports"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="setup_is_singleton"),
        ]

    def __str__(self) -> str:
        return "Lightning Sync Setup"

    @classmethod
    def load(cls) -> LightningSyncSetup:
        obj, _ = cls.objects.get_or_create(id=cls.SINGLETON_ID)
        return obj

    # --- secrets: write-only accessors; the attributes above hold ciphertext only ------------
    def set_service_account_password(self, plaintext: str) -> None:
        self.service_account_password_encrypted = secrets.encrypt(plaintext) if plaintext else ""

    def service_account_password(self) -> str:
        token = self.service_account_password_encrypted
        return secrets.decrypt(token) if token else ""

    def set_oauth_client_secret(self, plaintext: str) -> None:
        self.oauth_client_secret_encrypted = secrets.encrypt(plaintext) if plaintext else ""

    def oauth_client_secret(self) -> str:
        token = self.oauth_client_secret_encrypted
        return secrets.decrypt(token) if token else ""

    def set_oauth_certificate(self, pem: str) -> None:
        self.oauth_certificate_encrypted = secrets.encrypt(pem) if pem else ""

    def oauth_certificate(self) -> str:
        token = self.oauth_certificate_encrypted
        return secrets.decrypt(token) if token else ""

    @property
    def has_service_account_password(self) -> bool:
        return bool(self.service_account_password_encrypted)

    @property
    def has_oauth_credential(self) -> bool:
        return bool(self.oauth_client_secret_encrypted or self.oauth_certificate_encrypted)

    @property
    def additional_domain_list(self) -> list[str]:
        return [d for d in self.additional_domains.split(",") if d]
