"""Heartbeats: the mail worker and each periodic job record when they last ran, so that a stopped cron or worker
is noticed (the readiness endpoint and the admin home panel, cms.health).

- A periodic job calls `beat("send_reminders", reminders=3)` at the end of its run. A run that crashes never gets
  there, so its heartbeat goes stale and the job shows as late.
- The mail worker (django-tasks-db's `db_worker`) records one after its tasks, through django-tasks' task_finished
  signal, at most once a minute per process; `send_outbox --loop` after each pass. A worker is idle when nothing
  is due, so it is never late by itself: e-mails waiting past their time are the sign of a worker that is down
  (the outbox's readiness check, courses.health, one of the `readiness_checks` the apps register).
- How old a job's heartbeat may be before it counts as late is the setting DEKIRU_HEARTBEATS (minutes per name).

Heartbeats hold names, times and counts, never personal data.
"""

import logging
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import TaskResultStatus
from django_tasks.signals import task_finished
from wagtail import hooks

from cms.models import Heartbeat

logger = logging.getLogger(__name__)

MAIL_WORKER = "mail_worker"
# The worker writes its heartbeat at most this often per process (it may run thousands of tasks a minute).
WORKER_BEAT_INTERVAL_SECONDS = 60.0


def beat(name: str, ok: bool = True, **details) -> None:
    """Record that the job or worker `name` ran just now (`ok`: and succeeded), with what it reports (counts).

    One statement (INSERT … ON CONFLICT DO UPDATE). Never raises: a heartbeat that cannot be written must not turn
    a job that did its work into a failed one; it is logged instead."""
    now = timezone.now()
    row = Heartbeat(name=name, last_run_at=now, last_ok_at=now if ok else None,
                    details={**details, "host": socket.gethostname()})
    update_fields = ["last_run_at", "details", *(["last_ok_at"] if ok else [])]
    try:
        with transaction.atomic():
            Heartbeat.objects.bulk_create([row], update_conflicts=True, unique_fields=["name"],
                                          update_fields=update_fields)
    except DatabaseError:
        logger.warning("heartbeat %s could not be recorded", name, exc_info=True)


_last_worker_beat: dict[str, float] = {}


@receiver(task_finished, dispatch_uid="dekiru_mail_worker_heartbeat")
def _mail_task_finished(sender, task_result, **kwargs) -> None:
    """The mail worker finished a task: record its heartbeat (at most once a minute per process)."""
    if getattr(task_result, "backend", None) != "mail":
        return
    ok = task_result.status != TaskResultStatus.FAILED
    now = time.monotonic()
    if ok and now - _last_worker_beat.get(MAIL_WORKER, -WORKER_BEAT_INTERVAL_SECONDS) < WORKER_BEAT_INTERVAL_SECONDS:
        return
    _last_worker_beat[MAIL_WORKER] = now
    beat(MAIL_WORKER, ok=ok, runner="db_worker")


# --- Reading them -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobStatus:
    name: str
    late_after: timedelta | None  # None: never late by itself
    last_run_at: datetime | None
    last_ok_at: datetime | None
    details: dict

    def is_late(self, now: datetime) -> bool:
        if self.late_after is None:
            return False
        return self.last_run_at is None or now - self.last_run_at > self.late_after

    @property
    def last_run_failed(self) -> bool:
        return self.last_run_at is not None and (self.last_ok_at is None or self.last_ok_at < self.last_run_at)


@dataclass(frozen=True)
class Problem:
    """Something an administrator should look at. The app can still serve: readiness stays 200."""

    code: str  # job_never_ran, job_late, job_failed, or an app check's code (outbox_overdue, outbox_failed)
    subject: str  # the job's name, or the app check's name ("outbox")
    message: str  # in the active language


@dataclass(frozen=True)
class AppCheck:
    """What an app reports about its own background work, through the `readiness_checks` hook: a function taking
    `now` and returning one AppCheck. `name` is its key in /readyz's body, `data` its figures there, `problems` its
    warnings, and `summary` its line on the admin's background-work panel (both in the active language)."""

    name: str
    data: dict
    problems: list[Problem]
    summary: str


def app_checks(now: datetime) -> list[AppCheck]:
    """The checks the apps register with the `readiness_checks` hook (the outbox's, from courses), in order."""
    return [check(now) for check in hooks.get_hooks("readiness_checks")]


def expected_jobs() -> dict[str, timedelta | None]:
    return {name: None if minutes is None else timedelta(minutes=minutes)
            for name, minutes in getattr(settings, "DEKIRU_HEARTBEATS", {}).items()}


def job_statuses() -> list[JobStatus]:
    """Every expected job, plus any other that recorded a heartbeat, by name."""
    expected = expected_jobs()
    rows = {row.name: row for row in Heartbeat.objects.all()}
    statuses = []
    for name in sorted({*expected, *rows}):
        row = rows.get(name)
        statuses.append(JobStatus(name=name, late_after=expected.get(name),
                                  last_run_at=row.last_run_at if row else None,
                                  last_ok_at=row.last_ok_at if row else None, details=row.details if row else {}))
    return statuses


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


def problems(jobs: list[JobStatus], checks: list[AppCheck], now: datetime | None = None) -> list[Problem]:
    """What is wrong with the background work: late or failing jobs, then the apps' own problems (e-mails overdue
    or failed)."""
    now = now or timezone.now()
    found = []
    for job in jobs:
        if job.is_late(now) and job.last_run_at is None:
            found.append(Problem("job_never_ran", job.name, _("%(job)s has never run.") % {"job": job.name}))
        elif job.is_late(now):
            found.append(Problem("job_late", job.name, _(
                "%(job)s last ran %(minutes)d minutes ago; it should run at least every %(expected)d minutes.") % {
                "job": job.name, "minutes": _minutes(now - job.last_run_at), "expected": _minutes(job.late_after)}))
        elif job.last_run_failed:
            found.append(Problem("job_failed", job.name, _("The last run of %(job)s failed.") % {"job": job.name}))
    for check in checks:
        found.extend(check.problems)
    return found
