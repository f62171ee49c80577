"""Settings read from the environment: the knobs the README documents behave as it says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEY = "n1Qm2nXl0V7p3Xw9bWQy8hC7mYc5dH0sYxZ3kq8UrtE="


def _settings(env: dict[str, str], expr: str) -> subprocess.CompletedProcess[str]:
    ours = {
        "DATABASE_URL",
        "DEBUG",
        "REDIS_URL",
        "SECRET_KEY",
        "LIGHTNINGSYNC_ENCRYPTION_KEYS",
        "ALLOWED_HOSTS",
        "SECURE_SSL_REDIRECT",
        "CONN_MAX_AGE",
        "CONN_HEALTH_CHECKS",
        "LIGHTNINGSYNC_SYNC_BATCH_SIZE",
    }
    base = {k: v for k, v in os.environ.items() if k not in ours}
    base.update({"DJANGO_SETTINGS_MODULE": "lightningsync.settings", "PYTHONPATH": str(ROOT)})
    base.update(env)
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        f"print(json.dumps({expr}, default=str))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env=base, cwd="/", capture_output=True, text=True, timeout=60
    )


def test_it_refuses_to_start_without_a_secret_key_outside_debug():
    result = _settings({"SECRET_KEY": ""}, "s.DEBUG")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_it_has_a_development_key_and_sqlite_only_when_debugging():
    result = _settings({"DEBUG": "true"}, "[s.SECRET_KEY, s.DATABASES['default']['ENGINE']]")
    assert result.returncode == 0, result.stderr
    secret, engine = json.loads(result.stdout)
    assert secret.startswith("dev-only-insecure")
    assert engine == "django.db.backends.sqlite3"


def test_it_uses_the_database_broker_by_default_and_redis_when_configured():
    env = {"SECRET_KEY": "s" * 50, "LIGHTNINGSYNC_ENCRYPTION_KEYS": KEY}
    default = _settings(env, "s.Q_CLUSTER")
    assert default.returncode == 0, default.stderr
    q = json.loads(default.stdout)
    assert q["orm"] == "default" and "redis" not in q
    assert q["timeout"] < q["retry"]

    redis = _settings({**env, "REDIS_URL": "redis://127.0.0.1:6379/3"}, "s.Q_CLUSTER")
    q = json.loads(redis.stdout)
    assert q["redis"] == "redis://127.0.0.1:6379/3" and "orm" not in q


def test_it_reads_the_database_time_zone_and_interval_from_the_environment():
    env = {
        "SECRET_KEY": "s" * 50,
        "LIGHTNINGSYNC_ENCRYPTION_KEYS": KEY,
        "DATABASE_URL": "postgres://u:p@db.example:5433/crm",
        "TIME_ZONE": "Europe/Paris",
        "LIGHTNINGSYNC_SYNC_INTERVAL_MINUTES": "15",
    }
    result = _settings(
        env,
        "[s.DATABASES['default']['HOST'], s.DATABASES['default']['PORT'], s.TIME_ZONE, "
        "s.USE_TZ, s.LIGHTNINGSYNC_SYNC_INTERVAL_MINUTES]",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["db.example", 5433, "Europe/Paris", True, 15]


def test_database_connections_persist_with_health_checks_unless_set_otherwise():
    """Every sync task would otherwise open new connections (SPEC §12; the README's
    production section)."""
    env = {"SECRET_KEY": "s" * 50, "LIGHTNINGSYNC_ENCRYPTION_KEYS": KEY,
           "DATABASE_URL": "postgres://u:p@db.example:5432/crm"}
    expr = ("[s.DATABASES['default']['CONN_MAX_AGE'], "
            "s.DATABASES['default']['CONN_HEALTH_CHECKS'], s.LIGHTNINGSYNC_SYNC_BATCH_SIZE]")
    default = _settings(env, expr)
    assert default.returncode == 0, default.stderr
    assert json.loads(default.stdout) == [300, True, 25]
    chosen = _settings({**env, "CONN_MAX_AGE": "60", "CONN_HEALTH_CHECKS": "false",
                        "LIGHTNINGSYNC_SYNC_BATCH_SIZE": "10"}, expr)
    assert json.loads(chosen.stdout) == [60, False, 10]


_CONCURRENT_WRITERS = """
import threading, django
django.setup()
from django.db import connection, transaction
with connection.cursor() as c:
    c.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER)")
    c.execute("INSERT INTO t VALUES (0)")
    c.execute("PRAGMA journal_mode")
    print(c.fetchone()[0])
barrier, failures = threading.Barrier(2, timeout=10), []

def writer():
    try:
        with transaction.atomic():  # read, then write: the classic SQLite lock upgrade
            with connection.cursor() as c:
                c.execute("SELECT n FROM t")
                c.fetchone()
                try:
                    barrier.wait(timeout=1)  # only the first to BEGIN gets here in time
                except threading.BrokenBarrierError:
                    pass
                c.execute("UPDATE t SET n = n + 1")
    except Exception as exc:
        failures.append(repr(exc))
    finally:
        connection.close()

threads = [threading.Thread(target=writer) for _ in range(2)]
[t.start() for t in threads]
[t.join() for t in threads]
with connection.cursor() as c:
    c.execute("SELECT n FROM t")
    print(c.fetchone()[0], failures)
"""


def test_a_sqlite_file_takes_concurrent_writers_in_turn(tmp_path):
    """The demo's web app and workers share one SQLite file: two transactions that read and
    then write must both commit (one waits), not fail with "database is locked"."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update({"DJANGO_SETTINGS_MODULE": "lightningsync.settings", "PYTHONPATH": str(ROOT),
                "DEBUG": "true", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"})
    result = subprocess.run([sys.executable, "-c", _CONCURRENT_WRITERS], env=env, cwd="/",
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    mode, outcome = result.stdout.splitlines()
    assert mode == "wal"
    assert outcome == "2 []"


def test_log_level_debug_keeps_every_handler_redacting():
    expr = (
        "[logging.getLevelName(logging.getLogger().level), "
        "[name for name, logger in [('root', logging.getLogger()), "
        "*logging.Logger.manager.loggerDict.items()] for h in getattr(logger, 'handlers', []) "
        "if not any(type(f).__name__ == 'RedactSecrets' for f in h.filters)], "
        "len(logging.getLogger().handlers)]"
    )
    result = _settings({"DEBUG": "true", "LOG_LEVEL": "DEBUG"}, f"(lambda logging: {expr})"
                       "(__import__('logging'))")
    assert result.returncode == 0, result.stderr
    level, unfiltered, root_handlers = json.loads(result.stdout)
    assert (level, unfiltered, root_handlers) == ("DEBUG", [], 1)
