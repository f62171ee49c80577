"""Test settings: production settings with fixed, test-only keys (never DEBUG shortcuts)."""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-" + "k" * 40)
# Two fixed Fernet keys so key-rotation tests can drop one.
os.environ.setdefault(
    "LIGHTNINGSYNC_ENCRYPTION_KEYS", "n1Qm2nXl0V7p3Xw9bWQy8hC7mYc5dH0sYxZ3kq8UrtE="
)
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
# The simulator listens on plain http on the loopback interface.
os.environ.setdefault("LIGHTNINGSYNC_ALLOW_HTTP_HOSTS", "127.0.0.1,localhost")

from lightningsync.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
Q_CLUSTER = {**Q_CLUSTER, "sync": True}  # noqa: F405  (tasks run inline in tests)
