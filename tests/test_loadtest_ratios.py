"""The side-by-side ratios of issue 18 (loadtest/ratios.py, `scripts/loadtest.sh ratios`) must measure what they say.

- loadtest/registration.pgbench is "the same transaction" as the final POST: on PostgreSQL, its statements are the
  request's, one by one (the same kind, the same table, the same columns written), so a change of the write path or
  of a model that the script does not follow fails here instead of making the ratio compare different work.
- pgbench runs the script on the test database without an error and writes what a registration writes.
- The resident of ratios.py completes whole registrations through a live server (form, review, final POST), so a
  change of the form cannot turn the registrations side into a count of refusals, as once happened to the locustfile.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from courses.models import OutgoingMessage, Participant, Registration
from tests import factories
from tests.courses.test_registration_review import form_data, hidden_fields

pytestmark = [pytest.mark.clock]

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "loadtest" / "registration.pgbench"
postgresql_only = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="pgbench runs PostgreSQL's SQL")


def script_statements() -> list[str]:
    """The SQL statements of the pgbench script, without its meta-commands and comments."""
    lines = [line for line in SCRIPT.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith(("--", "\\"))]
    return [re.sub(r"\s*\\gset.*$", "", line).rstrip(";") for line in lines]


def shape(sql: str) -> tuple:
    """What a statement does, without its values: its kind, its table, the columns an INSERT writes, the columns a
    SELECT reads, and whether it locks."""
    sql = " ".join(sql.split())
    head = sql.split(" ", 1)[0].upper()
    if head == "INSERT":
        table, columns = re.match(r'INSERT INTO "(\w+)" \(([^)]*)\)', sql).groups()
        return head, table, columns, "ON CONFLICT DO NOTHING" in sql, "RETURNING" in sql
    if head == "SELECT":
        table = re.search(r' FROM "(\w+)"', sql)
        return head, table.group(1) if table else sql.split("(", 1)[0], sql.split(" FROM ", 1)[0].count('"'), \
            "FOR UPDATE" in sql
    return (head,)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_the_pgbench_script_is_the_final_posts_transaction(client, site):
    session = factories.session(capacity=500)
    url = f"/sessions/{session.pk}/register/"
    for n in (1, 2):  # the first warms the per-process caches
        data = form_data(name=f"川崎 花子{n}", phone=f"090-1234-{n:04d}", email=f"h{n}@example.jp", notify_by="email")
        answers = hidden_fields(client.post(url, data).content.decode()) | {"step": "register"}
        with CaptureQueriesContext(connection) as captured:
            assert client.post(url, answers).status_code == 302

    request = [shape(query["sql"]) for query in captured.captured_queries]
    assert [shape(sql) for sql in script_statements()] == request


@postgresql_only
@pytest.mark.skipif(shutil.which("pgbench") is None, reason="pgbench is not installed")
@pytest.mark.django_db(transaction=True)
def test_pgbench_runs_the_script_and_writes_what_a_registration_writes(site):
    sessions = [factories.session(capacity=100) for _ in range(2)]
    ids = sorted(s.pk for s in sessions)
    assert ids[1] == ids[0] + 1
    settings = connection.settings_dict
    url = (f"postgresql://{settings['USER'] or 'postgres'}@{settings['HOST'] or '127.0.0.1'}:"
           f"{settings['PORT'] or 5432}/{settings['NAME']}")
    with connection.cursor() as cursor:
        cursor.execute("CREATE SEQUENCE IF NOT EXISTS loadtest_reference_0 MAXVALUE 9999999 CYCLE")
        cursor.execute("SELECT id FROM django_content_type WHERE app_label = 'courses' AND model = 'registration'")
        [(ctype,)] = cursor.fetchall()
    result = subprocess.run(
        ["pgbench", "-n", "-c", "2", "-t", "3", "-f", str(SCRIPT), "-D", f"first_session={ids[0]}",
         "-D", f"last_session={ids[1]}", "-D", f"log_ctype={ctype}", url], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "number of failed transactions: 0" in result.stdout

    registrations = Registration.objects.filter(session_id__in=ids)
    assert registrations.count() == 6
    assert set(registrations.values_list("status", flat=True)) == {Registration.Status.CONFIRMED}
    assert Participant.objects.filter(name__startswith="pgbench ").count() == 6
    assert OutgoingMessage.objects.filter(registration__in=registrations, kind="confirmed").count() == 6


@pytest.mark.django_db(transaction=True)
def test_the_ratio_resident_registers_through_the_form_and_its_review(live_server, site, settings, tmp_path):
    """ratios.py's resident, against a live server as production settings see a proxied HTTPS request."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.RATELIMIT_ENABLE = False
    session = factories.session(capacity=2)
    sys.path.insert(0, str(ROOT / "loadtest"))
    try:
        from ratios import Resident
    finally:
        sys.path.remove(str(ROOT / "loadtest"))
    run = [{"id": session.pk, "register_path": f"/sessions/{session.pk}/register/"}]
    resident = Resident(live_server.url, run, "比率試験 ", "r1", worker=3)

    assert [resident.register(n) for n in range(3)] == ["", "", ""]  # the third is waitlisted: still registered

    registrations = Registration.objects.filter(session=session).select_related("participant")
    assert sorted(r.participant.name.rsplit("-", 2)[1:] for r in registrations) == [["3", "0"], ["3", "1"], ["3", "2"]]
    assert sorted(r.status for r in registrations) == ["confirmed", "confirmed", "waitlisted"]
