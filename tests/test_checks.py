"""System checks lightningsync.E001-E009, W001 and W002, and `check --deploy` with production
settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet
from django.conf import settings
from django.test import override_settings

from lightningsync.checks import (
    check_claim_lease,
    check_encryption_keys,
    check_ews_client,
    check_http_hosts,
    check_sync_interval,
    check_task_queue,
)

ROOT = Path(__file__).resolve().parent.parent


def ids(messages) -> list[str]:
    return [m.id for m in messages]


def test_it_passes_with_the_test_settings():
    assert check_encryption_keys() == []
    assert check_sync_interval() == []
    assert check_task_queue() == []
    assert check_ews_client() == []
    assert check_claim_lease() == []


@override_settings(LIGHTNINGSYNC_ENCRYPTION_KEYS=[])
def test_it_reports_missing_encryption_keys():
    assert ids(check_encryption_keys()) == ["lightningsync.E001"]


def test_it_reports_each_invalid_encryption_key():
    keys = [Fernet.generate_key().decode(), "not-a-key", "short"]
    with override_settings(LIGHTNINGSYNC_ENCRYPTION_KEYS=keys):
        problems = check_encryption_keys()
    assert ids(problems) == ["lightningsync.E002", "lightningsync.E002"]
    assert problems[0].msg.startswith("Key 2 of")
    assert problems[1].msg.startswith("Key 3 of")


@override_settings(LIGHTNINGSYNC_SYNC_INTERVAL_MINUTES=0)
def test_it_reports_a_sync_interval_out_of_range():
    assert ids(check_sync_interval()) == ["lightningsync.E003"]


def test_it_reports_each_ews_client_setting_out_of_range():
    with override_settings(
        LIGHTNINGSYNC_EWS_TIMEOUT_SECONDS=1, LIGHTNINGSYNC_EWS_READ_CONCURRENCY=0
    ):
        problems = check_ews_client()
    assert ids(problems) == ["lightningsync.E006", "lightningsync.E006"]
    assert problems[0].msg == "LIGHTNINGSYNC_EWS_TIMEOUT_SECONDS is 1; it must be 5 to 600."
    assert problems[1].msg.startswith("LIGHTNINGSYNC_EWS_READ_CONCURRENCY is 0;")
    with override_settings(LIGHTNINGSYNC_EWS_MAX_CONNECTIONS=65):
        assert ids(check_ews_client()) == ["lightningsync.E006"]
    with override_settings(LIGHTNINGSYNC_CONNECTION_TEST_STEP_SECONDS=0):
        assert [p.msg for p in check_ews_client()] == [
            "LIGHTNINGSYNC_CONNECTION_TEST_STEP_SECONDS is 0; it must be 1 to 300."]


def test_it_reports_an_autodiscover_address_the_engine_would_not_reach():
    with override_settings(LIGHTNINGSYNC_AUTODISCOVER_URL="http://ad.example.com/autodiscover/"):
        problems = check_ews_client()
    assert ids(problems) == ["lightningsync.E009"]
    assert "must be an https:// address" in problems[0].msg
    with override_settings(
            LIGHTNINGSYNC_AUTODISCOVER_URL="https://ad.example.com/autodiscover/autodiscover.svc"):
        assert check_ews_client() == []


def test_it_reports_a_claim_lease_over_two_minutes_or_none_at_all():
    for seconds in (0, 121):
        with override_settings(LIGHTNINGSYNC_CLAIM_LEASE_SECONDS=seconds):
            (error,) = check_claim_lease()
        assert error.id == "lightningsync.E007"
        assert error.msg == (
            f"LIGHTNINGSYNC_CLAIM_LEASE_SECONDS is {seconds}; it must be 1 to 120.")


def test_it_reports_a_timeout_not_below_retry():
    with override_settings(Q_CLUSTER={**settings.Q_CLUSTER, "timeout": 700, "retry": 700}):
        assert ids(check_task_queue()) == ["lightningsync.E004"]


def test_it_reports_a_sync_batch_size_out_of_range():
    for size in (0, 1001):
        with override_settings(LIGHTNINGSYNC_SYNC_BATCH_SIZE=size):
            (error,) = check_task_queue()
        assert error.id == "lightningsync.E008"
        assert error.msg == f"LIGHTNINGSYNC_SYNC_BATCH_SIZE is {size}; it must be 1 to 1000."


@override_settings(REDIS_URL="http://127.0.0.1:6379")
def test_it_reports_a_redis_url_with_a_wrong_scheme():
    assert ids(check_task_queue()) == ["lightningsync.E005"]


def test_it_warns_when_http_is_allowed_for_some_hosts():
    (warning,) = check_http_hosts()  # the test settings allow the simulator's loopback host
    assert warning.id == "lightningsync.W001"
    assert warning.msg.startswith(
        "LIGHTNINGSYNC_ALLOW_HTTP_HOSTS allows plain http:// to 127.0.0.1, localhost:"
    )
    with override_settings(LIGHTNINGSYNC_ALLOW_HTTP_HOSTS=[]):
        assert check_http_hosts() == []


def _check_deploy(**extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_URL", "LIGHTNINGSYNC_ALLOW_HTTP_HOSTS"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "lightningsync.settings",
            "DEBUG": "false",
            "SECRET_KEY": "prod-" + "q7W!x9#Lm2@vR4$tZ8^kP1&nB6*yC3(" * 2,
            "ALLOWED_HOSTS": "sync.example.com",
            "LIGHTNINGSYNC_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(extra)
    for name in ("SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_passes_check_deploy_with_production_settings():
    result = _check_deploy()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout


def test_check_deploy_warns_about_http_hosts():
    result = _check_deploy(LIGHTNINGSYNC_ALLOW_HTTP_HOSTS="exchange.lab.example")
    assert result.returncode != 0
    assert "lightningsync.W001" in result.stderr
    assert "plain http:// to exchange.lab.example" in result.stderr


def test_check_deploy_warns_about_a_new_database_connection_for_every_task():
    postgres = "postgres://lightningsync@db.example.com:5432/lightningsync"
    result = _check_deploy(DATABASE_URL=postgres, CONN_MAX_AGE="0")
    assert result.returncode != 0
    assert "lightningsync.W002" in result.stderr
    assert "CONN_MAX_AGE is 0: every task of the sync workers opens new database connections" \
        in result.stderr
    assert _check_deploy(DATABASE_URL=postgres).returncode == 0
    assert _check_deploy(CONN_MAX_AGE="0").returncode == 0  # SQLite: a file to open
