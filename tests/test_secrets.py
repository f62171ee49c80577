"""Secrets at rest (SPEC §13): encrypted in the database, and key rotation."""

from __future__ import annotations

import io
import json

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from lightningsync import secrets
from lightningsync.models import LightningSyncSetup, SetupAuditTrail
from lightningsync.setupservice import apply_setup

pytestmark = pytest.mark.django_db

PASSWORD = "Pl41n-Service-Passw0rd"
CLIENT_SECRET = "Cl13nt~Secret~Value"


def store_secrets() -> None:
    apply_setup(
        {},
        user=None,
        via="test",
        secrets={"service_account_password": PASSWORD, "oauth_client_secret": CLIENT_SECRET},
    )


def raw_columns() -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT service_account_password_encrypted, oauth_client_secret_encrypted "
            "FROM lightningsync_lightningsyncsetup"
        )
        row = cursor.fetchone()
    return row[0], row[1]


def rotate(*args: str) -> str:
    out = io.StringIO()
    call_command("lightningsync_rotate_keys", *args, stdout=out)
    return out.getvalue()


def test_it_stores_ciphertext_that_decrypts_to_the_secret():
    store_secrets()
    password_column, secret_column = raw_columns()
    assert PASSWORD not in password_column and CLIENT_SECRET not in secret_column
    assert secrets.decrypt(password_column) == PASSWORD
    setup = LightningSyncSetup.load()
    assert (setup.service_account_password(), setup.oauth_client_secret()) == (
        PASSWORD,
        CLIENT_SECRET,
    )


def test_it_finds_every_encrypted_field():
    assert sorted(name for _, name in secrets.encrypted_fields()) == [
        "oauth_certificate_encrypted",
        "oauth_client_secret_encrypted",
        "service_account_password_encrypted",
    ]


def test_it_rotates_so_that_the_old_key_can_be_removed():
    old_key = settings.LIGHTNINGSYNC_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    store_secrets()
    before = raw_columns()

    # Without rotation, dropping the old key loses the secrets.
    with (
        override_settings(LIGHTNINGSYNC_ENCRYPTION_KEYS=[new_key]),
        pytest.raises(secrets.SecretUnavailable),
    ):
        LightningSyncSetup.load().service_account_password()

    with override_settings(LIGHTNINGSYNC_ENCRYPTION_KEYS=[new_key, old_key]):
        out = rotate()
    assert out.startswith("Re-encrypted 2 secrets under the newest key.")
    assert raw_columns() != before

    with override_settings(LIGHTNINGSYNC_ENCRYPTION_KEYS=[new_key]):
        setup = LightningSyncSetup.load()
        assert setup.service_account_password() == PASSWORD
        assert setup.oauth_client_secret() == CLIENT_SECRET
    assert SetupAuditTrail.objects.filter(
        action="Re-encrypted 2 secrets under the newest key"
    ).exists()


def test_it_rotates_nothing_when_there_are_no_secrets():
    assert json.loads(rotate("--json")) == {"reencrypted": 0}


def test_it_leaves_everything_as_it_was_when_a_secret_cannot_be_decrypted():
    store_secrets()
    stranger = Fernet(Fernet.generate_key()).encrypt(b"from another install").decode()
    LightningSyncSetup.objects.update(oauth_client_secret_encrypted=stranger)
    before = raw_columns()
    new_key = Fernet.generate_key().decode()
    with (
        override_settings(
            LIGHTNINGSYNC_ENCRYPTION_KEYS=[new_key, *settings.LIGHTNINGSYNC_ENCRYPTION_KEYS]
        ),
        pytest.raises(CommandError, match="no configured key decrypts it; nothing was"),
    ):
        rotate()
    assert raw_columns() == before
    assert not SetupAuditTrail.objects.filter(action__startswith="Re-encrypted").exists()
