"""Secrets at rest: MultiFernet under keys from the environment.

Model fields hold only ciphertext (`EncryptedSecretField`); plaintext exists only in the
call that needs it (connecting to Exchange). Nothing here logs or formats a secret, and every
plaintext that passes through here is handed to `redaction`, so that no log line of this
process (a library's debug dump included) can carry it.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

from lightningsync import redaction


class SecretUnavailable(Exception):
    """A stored secret cannot be decrypted with the configured keys."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured(
            "LIGHTNINGSYNC_ENCRYPTION_KEYS is empty: secrets cannot be stored. "
            'Generate a key with `python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"`.'
        )
    return MultiFernet([Fernet(k.encode()) for k in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.LIGHTNINGSYNC_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    redaction.remember(plaintext)
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        plaintext = fernet().decrypt(token.encode()).decode()
        redaction.remember(plaintext)
        return plaintext
    except InvalidToken as exc:
        raise SecretUnavailable(
            "A stored secret cannot be decrypted with LIGHTNINGSYNC_ENCRYPTION_KEYS; "
            "was a key removed before `lightningsync_rotate_keys` ran?"
        ) from exc


def rotate(token: str) -> str:
    """Re-encrypt under the newest key (raises SecretUnavailable when no key decrypts it)."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnavailable(
            "A stored secret cannot be decrypted with any configured key."
        ) from exc


class EncryptedSecretField(models.TextField):
    """Holds a Fernet token (never plaintext). Empty string means "not set"."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


def encrypted_fields() -> Iterator[tuple[type[models.Model], str]]:
    """Every (model, field name) that stores a secret, for key rotation."""
    from django.apps import apps

    for model in apps.get_models():
        for field in model._meta.get_fields():
            if isinstance(field, EncryptedSecretField):
                yield model, field.name
