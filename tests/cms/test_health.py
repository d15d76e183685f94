"""Health endpoints and heartbeats (cms.health, cms.heartbeats): liveness without the database, readiness that
checks it (503 when it is down, in a production process of its own), warnings for late jobs and the outbox, the
heartbeats the worker and the periodic jobs record, and the admin home panel for city administrators."""

import io
import json
import os
import subprocess
import sys
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import RequestFactory
from django.utils import timezone, translation
from django_tasks import TaskResultStatus
from django_tasks.signals import task_finished

from cms import heartbeats, roles
from cms.health import BackgroundWorkPanel, add_background_work_panel
from cms.models import Heartbeat
from courses.models import OutgoingMessage

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def beat_all_jobs(ago=timedelta(minutes=1)):
    when = timezone.now() - ago
    for name in settings.DEKIRU_HEARTBEATS:
        Heartbeat.objects.create(name=name, last_run_at=when, last_ok_at=when)


def message(*, status, minutes_ago=0, **fields):
    when = timezone.now() - timedelta(minutes=minutes_ago)
    return OutgoingMessage.objects.create(
        key=f"test:{OutgoingMessage.objects.count()}", kind=OutgoingMessage.Kind.CONFIRMED, status=status,
        to_name="山田花子", to_email="hanako@example.jp", next_attempt_at=when, **fields)


# --- Liveness and readiness -------------------------------------------------------------------------------------


def test_liveness_answers_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert "no-store" in response["Cache-Control"]


def test_readiness_is_ok_when_every_job_ran_on_time(client, django_assert_max_num_queries):
    beat_all_jobs()
    # The database check (with its statement timeout, in a savepoint inside the test's transaction), the heartbeats
    # and two counts on the outbox: a probe every few seconds stays cheap.
    with django_assert_max_num_queries(7):
        response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok" and body["database"] == "ok" and body["warnings"] == []
    assert set(body["jobs"]) == set(settings.DEKIRU_HEARTBEATS)
    assert body["jobs"]["send_reminders"]["late"] is False
    assert body["outbox"] == {"overdue": 0, "overdue_after_minutes": 15, "failed_last_day": 0}


def test_readiness_warns_about_late_failed_and_missing_jobs_but_stays_ready(client):
    beat_all_jobs()
    Heartbeat.objects.filter(name="send_reminders").update(last_run_at=timezone.now() - timedelta(minutes=90),
                                                            last_ok_at=timezone.now() - timedelta(minutes=90))
    Heartbeat.objects.filter(name="sweep_outbox").delete()
    heartbeats.beat("purge_personal_data", ok=False)
    # The worker is idle when nothing is due: an old heartbeat of its own is no warning.
    Heartbeat.objects.filter(name="mail_worker").update(last_run_at=timezone.now() - timedelta(days=3))

    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "warning"
    codes = {(warning["code"], warning["subject"]) for warning in body["warnings"]}
    assert codes == {("job_late", "send_reminders"), ("job_never_ran", "sweep_outbox"),
                     ("job_failed", "purge_personal_data")}
    assert body["jobs"]["send_reminders"]["late"] is True and body["jobs"]["mail_worker"]["late"] is False
    assert "send_reminders last ran 90 minutes ago" in json.dumps(body)


def test_readiness_warns_about_overdue_and_failed_mail_without_personal_data(client):
    beat_all_jobs()
    message(status=OutgoingMessage.Status.PENDING, minutes_ago=30)  # overdue: the worker is down
    message(status=OutgoingMessage.Status.PENDING, minutes_ago=5)  # due, but not yet overdue
    message(status=OutgoingMessage.Status.FAILED, last_error="550 mailbox unavailable hanako@example.jp")
    old_failure = message(status=OutgoingMessage.Status.FAILED)
    OutgoingMessage.objects.filter(pk=old_failure.pk).update(updated_at=timezone.now() - timedelta(days=2))

    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "warning"
    assert body["outbox"] == {"overdue": 1, "overdue_after_minutes": 15, "failed_last_day": 1}
    assert {warning["code"] for warning in body["warnings"]} == {"outbox_overdue", "outbox_failed"}
    text = response.content.decode()
    assert "hanako" not in text and "山田" not in text and "550" not in text


def test_outbox_overdue_threshold_is_a_setting(client, settings):
    beat_all_jobs()
    settings.DEKIRU_OUTBOX_OVERDUE_MINUTES = 60
    message(status=OutgoingMessage.Status.PENDING, minutes_ago=30)
    assert client.get("/readyz").json()["outbox"]["overdue"] == 0


def test_job_intervals_are_settings(client, settings):
    beat_all_jobs(ago=timedelta(minutes=30))
    settings.DEKIRU_HEARTBEATS = {**settings.DEKIRU_HEARTBEATS, "send_reminders": 20, "sweep_outbox": None}
    late = {warning["subject"] for warning in client.get("/readyz").json()["warnings"]}
    assert late == {"send_reminders"}


def test_health_endpoints_have_no_language_prefix(client):
    assert client.get("/healthz", HTTP_ACCEPT_LANGUAGE="en").status_code == 200
    assert client.get("/en/healthz/").status_code == 404  # not under the language prefix


def test_readiness_reports_a_database_that_does_not_answer(client, monkeypatch):
    from django.db import OperationalError, connection

    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "errors": [
        {"code": "database", "message": "The database does not answer."}]}


def test_production_probes_answer_over_http_and_readiness_fails_without_a_database():
    """A real production process whose database is unreachable: the probes are not redirected to HTTPS, liveness
    says ok, readiness 503 — nothing in the middleware stack needs the database for them."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "cms.settings.production", "DJANGO_SECRET_KEY": "x" * 50,
           "DJANGO_ALLOWED_HOSTS": "testserver", "DATABASE_URL": "postgres://dekiru@127.0.0.1:9/deploy_nowhere"}
    code = """
import json, django
django.setup()
from django.test import Client
client = Client()
out = {}
for path in ("/healthz", "/readyz", "/"):
    response = client.get(path)
    out[path] = [response.status_code, response.content.decode() if response.status_code != 301 else ""]
print(json.dumps(out))
"""
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=settings.BASE_DIR, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["/healthz"] == [200, '{"status": "ok"}']
    assert out["/readyz"][0] == 503 and json.loads(out["/readyz"][1])["errors"][0]["code"] == "database"
    assert out["/"][0] == 301  # everything else goes to HTTPS


# --- Heartbeats -------------------------------------------------------------------------------------------------


def test_beat_keeps_one_row_per_job_and_the_last_success():
    heartbeats.beat("send_reminders", reminders=3)
    first = Heartbeat.objects.get(name="send_reminders")
    heartbeats.beat("send_reminders", ok=False, reminders=0)
    row = Heartbeat.objects.get(name="send_reminders")
    assert Heartbeat.objects.filter(name="send_reminders").count() == 1
    assert row.last_run_at > first.last_run_at and row.last_ok_at == first.last_ok_at
    assert row.details["reminders"] == 0 and "host" in row.details


def test_periodic_commands_and_the_outbox_loop_record_heartbeats():
    for command in (["send_reminders"], ["sweep_outbox"], ["send_outbox"], ["refresh_outreach_summaries", "--recent"]):
        call_command(*command, stdout=io.StringIO())
    names = set(Heartbeat.objects.values_list("name", flat=True))
    assert {"send_reminders", "sweep_outbox", "mail_worker", "refresh_outreach_summaries_recent"} <= names
    assert Heartbeat.objects.get(name="mail_worker").details["runner"] == "send_outbox"


@pytest.fixture
def fresh_worker_throttle(monkeypatch):
    monkeypatch.setattr(heartbeats, "_last_worker_beat", {})


def finished(status, backend="mail"):
    task = SimpleNamespace(module_path="courses.tasks.send_message_task")
    task_finished.send(sender=object, task_result=SimpleNamespace(id="task-1", task=task, backend=backend,
                                                                  status=status))


def test_the_mail_worker_beats_after_its_tasks_at_most_once_a_minute(fresh_worker_throttle):
    finished(TaskResultStatus.SUCCESSFUL, backend="default")  # Wagtail's immediate tasks are not the worker
    assert not Heartbeat.objects.exists()
    finished(TaskResultStatus.SUCCESSFUL)
    first = Heartbeat.objects.get(name="mail_worker")
    finished(TaskResultStatus.SUCCESSFUL)
    assert Heartbeat.objects.get(name="mail_worker").last_run_at == first.last_run_at
    finished(TaskResultStatus.FAILED)  # a failure is recorded at once
    row = Heartbeat.objects.get(name="mail_worker")
    assert row.last_run_at > first.last_run_at and row.last_ok_at == first.last_ok_at


@pytest.mark.django_db(transaction=True)
def test_the_db_worker_records_its_heartbeat(fresh_worker_throttle):
    """The real worker of the mail queue, django-tasks-db's db_worker, running one task."""
    from courses import tasks

    tasks.send_due_messages_task.enqueue()
    call_command("db_worker", "--backend", "mail", "--queue-name", "mail", "--batch", "--no-startup-delay",
                 "--no-reload", verbosity=0)
    assert Heartbeat.objects.get(name="mail_worker").details["runner"] == "db_worker"


# --- The admin home panel ---------------------------------------------------------------------------------------


def staff(group):
    user = get_user_model().objects.create_user(f"user-{group}", password="pw")
    user.groups.add(Group.objects.get(name=group))
    return user


def panels_for(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    panels = []
    add_background_work_panel(request, panels)
    return request, panels


def test_the_panel_is_for_city_administrators_only():
    _, panels = panels_for(staff(roles.CITY_ADMINISTRATOR))
    assert [type(panel) for panel in panels] == [BackgroundWorkPanel]
    for group in (roles.CITY_PROGRAMME_OFFICER, roles.CITY_ANALYST, roles.PARTNER_MANAGER):
        assert panels_for(staff(group))[1] == []


def test_the_panel_lists_late_jobs_and_the_outbox_backlog():
    beat_all_jobs()
    Heartbeat.objects.filter(name="sweep_outbox").update(last_run_at=timezone.now() - timedelta(hours=2))
    message(status=OutgoingMessage.Status.PENDING, minutes_ago=45)
    _, panels = panels_for(staff(roles.CITY_ADMINISTRATOR))
    with translation.override("en"):
        html = panels[0].render_html()
    assert "sweep_outbox last ran 120 minutes ago" in html
    assert "1 e-mail has waited more than 15 minutes" in html
    assert "hanako" not in html


def test_the_panel_says_all_is_well():
    beat_all_jobs()
    _, panels = panels_for(staff(roles.CITY_ADMINISTRATOR))
    with translation.override("en"):
        assert "run on time" in panels[0].render_html()
