"""Backups restore: scripts/backup.sh dumps the (test) database with rows in it, scripts/restore.sh restores the dump
into a scratch database, and the restored database has the same rows and is fully migrated and usable.
PostgreSQL only (pg_dump, pg_restore and psql from PATH)."""

import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from cms.heartbeats import beat
from cms.models import Heartbeat
from courses.models import OutgoingMessage, Participant, Registration, Session
from tests import factories

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.clock]

BASE_DIR = Path(settings.BASE_DIR)
MODELS = [Participant, Registration, Session, OutgoingMessage, Heartbeat]
TABLES = [model._meta.db_table for model in MODELS] + ["wagtailcore_page", "auth_group", "django_migrations"]


def url_for(database: str) -> str:
    params = connection.settings_dict
    credentials = quote(params["USER"] or "postgres", safe="")
    if params["PASSWORD"]:
        credentials += ":" + quote(params["PASSWORD"], safe="")
    return f"postgres://{credentials}@{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}/{database}"


def admin_connection():
    params = connection.settings_dict
    return psycopg.connect(host=params["HOST"] or "127.0.0.1", port=params["PORT"] or 5432,
                           user=params["USER"] or "postgres", password=params["PASSWORD"] or None, dbname="postgres",
                           autocommit=True)


def counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in TABLES}


@pytest.fixture
def scratch_database():
    """An empty database named deploy_…, dropped afterwards."""
    name = f"deploy_backup_dst_{os.getpid()}"
    with admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name
    with admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def script(name: str, *args: str, database_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(["bash", str(BASE_DIR / "scripts" / name), *args], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.skipif(not shutil.which("pg_dump") or not shutil.which("pg_restore"), reason="PostgreSQL client missing")
def test_a_backup_restores_into_an_empty_database(site, scratch_database, tmp_path):
    for index in range(3):
        session = factories.session(starts_in=timedelta(days=index + 1))
        for _ in range(4):
            factories.registration(session_obj=session)
    OutgoingMessage.objects.create(key="backup-test", kind=OutgoingMessage.Kind.REMINDER, to_name="山田花子",
                                   to_email="hanako@example.jp", next_attempt_at=timezone.now())
    beat("send_reminders", reminders=12)
    source = url_for(connection.settings_dict["NAME"])
    target = url_for(scratch_database)

    backup = script("backup.sh", str(tmp_path / "dekiru.dump"), database_url=source)
    assert backup.returncode == 0, backup.stderr
    dump = Path(backup.stdout.strip())
    assert dump == tmp_path / "dekiru.dump" and dump.stat().st_mode & 0o077 == 0  # personal data: owner only
    assert not list(tmp_path.glob("*.partial"))

    restore = script("restore.sh", str(dump), database_url=target)
    assert restore.returncode == 0, restore.stderr

    restored = counts(target)
    assert restored == counts(source)
    assert restored["courses_registration"] == 12 and restored["courses_session"] == 3
    with psycopg.connect(target) as conn:
        assert conn.execute("SELECT to_name FROM courses_outgoingmessage WHERE key = 'backup-test'").fetchone() == (
            "山田花子",)
        # Sequences came along: a new row gets a fresh id.
        conn.execute("INSERT INTO cms_heartbeat (name, last_run_at, details) VALUES ('after-restore', now(), '{}')")

    # Every migration is applied: the restored database is ready for this code.
    env = {**os.environ, "DATABASE_URL": target, "DJANGO_SETTINGS_MODULE": "cms.settings.test"}
    check = subprocess.run([sys.executable, "manage.py", "migrate", "--check"], cwd=BASE_DIR, env=env,
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr

    # Restoring over a database that has tables needs --clean (no accidental merge of two databases).
    again = script("restore.sh", str(dump), database_url=target)
    assert again.returncode != 0 and "--clean" in again.stderr
    assert script("restore.sh", "--clean", str(dump), database_url=target).returncode == 0
    assert counts(target) == counts(source)
