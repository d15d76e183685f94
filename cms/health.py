"""Health endpoints for load balancers and monitoring, and the background-work panel on the admin home page.

- `/healthz` (liveness): the process answers. No database: a database outage must not make an orchestrator
  restart every app server.
- `/readyz` (readiness): the database answers a trivial query within DEKIRU_READINESS_DB_TIMEOUT_SECONDS; if not,
  503 with a JSON body naming what is wrong, so the load balancer stops sending traffic here. When the database is
  fine it also reports the heartbeats of the worker and the periodic jobs and the state of the outbox
  (cms.heartbeats): late jobs, overdue or failed e-mails are listed as warnings but the answer stays 200, since the
  app can still serve residents.

Both live outside the language prefix and are exempt from the HTTPS redirect (SECURE_REDIRECT_EXEMPT), because
load balancers probe app servers over plain HTTP. They carry job names, times and counts, never personal data.
"""

import logging

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.http import JsonResponse
from django.template import engines
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from wagtail.admin.ui.components import Component

from cms import heartbeats

logger = logging.getLogger(__name__)

VIEW_PERMISSION = "cms.view_heartbeat"


def database_ok() -> bool:
    """Whether the database answers `SELECT 1` within the readiness timeout (enforced on PostgreSQL)."""
    timeout_ms = int(float(getattr(settings, "DEKIRU_READINESS_DB_TIMEOUT_SECONDS", 2)) * 1000)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"SET LOCAL statement_timeout = {timeout_ms:d}")
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        logger.warning("readiness: the database did not answer", exc_info=True)
        return False
    return True


def _iso(value) -> str | None:
    return value.isoformat() if value else None


@never_cache
@require_safe
def healthz(request):
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request):
    if not database_ok():
        return JsonResponse({"status": "unavailable", "errors": [
            {"code": "database", "message": "The database does not answer."}]}, status=503)
    now = timezone.now()
    body = {"status": "ok", "database": "ok"}
    try:
        jobs = heartbeats.job_statuses()
        # Machines read this: the messages are always in English.
        with translation.override("en"):
            checks = heartbeats.app_checks(now)
    except DatabaseError:  # e.g. migrations not applied yet: the app may still serve, but say so
        logger.warning("readiness: heartbeats could not be read", exc_info=True)
        body.update(status="warning", warnings=[{"code": "checks_failed", "subject": "heartbeats",
                                                 "message": "The heartbeats could not be read."}])
        return JsonResponse(body)
    # Machines read this: the messages are always in English.
    with translation.override("en"):
        found = heartbeats.problems(jobs, checks, now)
    body["jobs"] = {job.name: {"last_run_at": _iso(job.last_run_at), "last_ok_at": _iso(job.last_ok_at),
                               "late_after_minutes": job.late_after and int(job.late_after.total_seconds() // 60),
                               "late": job.is_late(now)}
                    for job in jobs}
    for check in checks:
        body[check.name] = check.data
    body["warnings"] = [{"code": problem.code, "subject": problem.subject, "message": problem.message}
                        for problem in found]
    if found:
        body["status"] = "warning"
    return JsonResponse(body)


# --- The admin home panel ---------------------------------------------------------------------------------------

PANEL_TEMPLATE = """{% load wagtailadmin_tags %}
{% panel id="dekiru-background-work" heading=heading %}
  {% if problems %}
    <ul class="help-block help-warning">{% for problem in problems %}<li>{{ problem.message }}</li>{% endfor %}</ul>
  {% else %}
    <p>{{ all_well }}</p>
  {% endif %}
  <table class="listing">
    <thead><tr><th scope="col">{{ labels.job }}</th><th scope="col">{{ labels.last_run }}</th>
      <th scope="col">{{ labels.last_ok }}</th><th scope="col">{{ labels.late_after }}</th></tr></thead>
    <tbody>{% for job in jobs %}
      <tr><td><code>{{ job.name }}</code></td>
        <td>{% if job.last_run_at %}{{ job.last_run_at|date:"Y-m-d H:i" }}{% else %}{{ labels.never }}{% endif %}</td>
        <td>{% if job.last_ok_at %}{{ job.last_ok_at|date:"Y-m-d H:i" }}{% else %}{{ labels.never }}{% endif %}</td>
        <td>{% if job.late_after_minutes %}{{ job.late_after_minutes }}{% else %}—{% endif %}</td></tr>
    {% endfor %}</tbody>
  </table>
  {% for summary in summaries %}<p>{{ summary }}</p>{% endfor %}
{% endpanel %}"""


class BackgroundWorkPanel(Component):
    """City administrators see whether the worker and the periodic jobs run, and the outbox's backlog and failures."""

    name = "dekiru_background_work"
    order = 60

    def __init__(self, request):
        self.request = request

    def render_html(self, parent_context=None):
        now = timezone.now()
        jobs, checks = heartbeats.job_statuses(), heartbeats.app_checks(now)
        context = {
            "heading": _("Background work"),
            "problems": heartbeats.problems(jobs, checks, now),
            "all_well": _("The worker and the periodic jobs run on time; no e-mail is overdue or failed."),
            "labels": {"job": _("Job"), "last_run": _("Last run"), "last_ok": _("Last successful run"),
                       "late_after": _("Late after (minutes)"), "never": _("never")},
            "jobs": [{"name": job.name, "last_run_at": job.last_run_at, "last_ok_at": job.last_ok_at,
                      "late_after_minutes": job.late_after and int(job.late_after.total_seconds() // 60)}
                     for job in jobs],
            "summaries": [check.summary for check in checks],
        }
        return engines["django"].from_string(PANEL_TEMPLATE).render(context, self.request)


def add_background_work_panel(request, panels) -> None:
    """construct_homepage_panels hook (registered in cms.wagtail_hooks)."""
    if request.user.is_active and request.user.has_perm(VIEW_PERMISSION):
        panels.append(BackgroundWorkPanel(request))
