"""Settings, read once from the environment (django-environ).

Every knob an admin turns in production is an environment variable; the README lists them.
Development defaults exist only where they are harmless (SQLite, a debug-only secret key).
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG: bool = env.bool("DEBUG", default=False)

_DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production-" + "x" * 16
SECRET_KEY: str = env.str("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Set it in the environment (50+ random characters), "
        "or set DEBUG=true for a development-only default."
    )

ALLOWED_HOSTS: list[str] = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "setupui.apps.SetupAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.forms",
    "django_q",
    "lightningsync.apps.LightningSyncConfig",
    "setupui.apps.SetupUIConfig",
    "syncengine.apps.SyncEngineConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "lightningsync.urls"
WSGI_APPLICATION = "lightningsync.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Widgets render through the templates above, so the Setup site's templates/ can give Django
# admin's widgets what they lack (a label for each input of a date and time field).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
# Persistent connections: each sync task, and the task queue's monitor and pusher, would
# otherwise open new database connections (a PostgreSQL backend started per task, which costs
# more than the task's own queries). The health check replaces a connection that broke (a
# database restart) before a task uses it.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=300))
DATABASES["default"].setdefault(
    "CONN_HEALTH_CHECKS", env.bool("CONN_HEALTH_CHECKS", default=True))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web app and the sync workers share the file: write-ahead logging lets readers go on
    # while a page of a sync commits, and IMMEDIATE transactions take the write lock up front
    # so that a busy database is waited for (timeout) instead of failing mid-transaction.
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        "transaction_mode": "IMMEDIATE",
        "timeout": env.int("SQLITE_BUSY_TIMEOUT_SECONDS", default=20),
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    })
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "lightningsync.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

LANGUAGE_CODE = "en-us"
FORMAT_MODULE_PATH = ["setupui.formats"]  # dates as Salesforce shows them
# The org's time zone: used for display and for date filters such as TODAY; data is stored in UTC.
TIME_ZONE: str = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]

# --- Security (production defaults; `manage.py check --deploy` is clean with them) ---------
SECURE_SSL_REDIRECT: bool = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
)
SESSION_COOKIE_SECURE: bool = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE: bool = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS: int = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS: bool = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD: bool = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SILENCED_SYSTEM_CHECKS: list[str] = env.list("SILENCED_SYSTEM_CHECKS", default=[])
if not SECURE_HSTS_PRELOAD:
    # Preloading is a one-way commitment an admin opts into; not a defect when off.
    SILENCED_SYSTEM_CHECKS.append("security.W021")


# --- Secrets at rest ---------------------------------------------------------------------
def _dev_encryption_key(secret_key: str) -> str:
    digest = hashlib.sha256(("lightningsync-dev-encryption:" + secret_key).encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


# Fernet keys, newest first. The first encrypts; all decrypt (rotation: prepend a new key,
# run `manage.py lightningsync_rotate_keys`, then drop the old one).
LIGHTNINGSYNC_ENCRYPTION_KEYS: list[str] = env.list("LIGHTNINGSYNC_ENCRYPTION_KEYS", default=[])
if not LIGHTNINGSYNC_ENCRYPTION_KEYS and DEBUG:
    LIGHTNINGSYNC_ENCRYPTION_KEYS = [_dev_encryption_key(SECRET_KEY)]

# --- Sync scheduling ---------------------------------------------------------------------
LIGHTNINGSYNC_SYNC_INTERVAL_MINUTES: int = env.int("LIGHTNINGSYNC_SYNC_INTERVAL_MINUTES", default=5)
# Seconds a worker's claim on a user lasts unless renewed (a running cycle renews it every third
# of it): how long a worker killed mid-cycle keeps its user from syncing. At most 120.
LIGHTNINGSYNC_CLAIM_LEASE_SECONDS: int = env.int("LIGHTNINGSYNC_CLAIM_LEASE_SECONDS", default=90)
# Users synced by one task, one after the other (each under its own claim): the queue's cost
# is paid per task. 1 to 1000.
LIGHTNINGSYNC_SYNC_BATCH_SIZE: int = env.int("LIGHTNINGSYNC_SYNC_BATCH_SIZE", default=25)

# --- Exchange (EWS) client ----------------------------------------------------------------
# Seconds before a request to Exchange is given up (then retried by the engine, boundedly).
LIGHTNINGSYNC_EWS_TIMEOUT_SECONDS: int = env.int("LIGHTNINGSYNC_EWS_TIMEOUT_SECONDS", default=60)
# HTTP connections kept per Exchange server and worker process.
LIGHTNINGSYNC_EWS_MAX_CONNECTIONS: int = env.int("LIGHTNINGSYNC_EWS_MAX_CONNECTIONS", default=8)
# GetItem requests of one mailbox in flight at once while reading a page of changes.
LIGHTNINGSYNC_EWS_READ_CONCURRENCY: int = env.int("LIGHTNINGSYNC_EWS_READ_CONCURRENCY", default=2)

# Hosts an outbound URL (EWS URL, Graph base URL, authority host) may reach over http://;
# every other host needs https://. For the demo and tests only (`check --deploy` warns).
LIGHTNINGSYNC_ALLOW_HTTP_HOSTS: list[str] = env.list("LIGHTNINGSYNC_ALLOW_HTTP_HOSTS", default=[])

# One Autodiscover service address asked for every domain, instead of https://<domain>/ and
# https://autodiscover.<domain>/ (split DNS, a lab, the demo). Same https rule as the EWS URL.
LIGHTNINGSYNC_AUTODISCOVER_URL: str = env.str("LIGHTNINGSYNC_AUTODISCOVER_URL", default="")
# Seconds each connection test step may take before it is reported as failed.
LIGHTNINGSYNC_CONNECTION_TEST_STEP_SECONDS: int = env.int(
    "LIGHTNINGSYNC_CONNECTION_TEST_STEP_SECONDS", default=20)

REDIS_URL: str = env.str("REDIS_URL", default="")
Q_CLUSTER = {
    "name": "lightningsync",
    "workers": env.int("Q_WORKERS", default=2),
    # A task may run twice (at-least-once); the engine's per-user lock and cursors make that safe.
    "timeout": env.int("Q_TIMEOUT", default=600),
    "retry": env.int("Q_RETRY", default=720),
    "max_attempts": 1,
    "catch_up": False,
    # Successful tasks kept (sync tasks never are: see syncengine.tasks); failed ones all are.
    "save_limit": 250,
    "label": "Task queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# Every handler carries the redaction filter: no level (DEBUG included, where exchangelib and
# requests dump headers and requests) may print a secret. Django's own handlers give way to
# ours for the same reason (configuring "django" resets its children, "django.server" too).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "lightningsync.redaction.RedactSecrets"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django": {"handlers": [], "level": "INFO"},
        "django.db.backends": {"level": "WARNING"},
    },
}
