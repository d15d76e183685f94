"""The outbox's part of the readiness check (/readyz) and of the admin's background-work panel (cms.health),
registered with the `readiness_checks` hook from courses/wagtail_hooks.py.

A mail worker is idle when nothing is due, so it is never late by itself: e-mails waiting past their time are the
sign of a worker that is down, and e-mails that failed in the last day a sign that SendGrid refuses them.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from cms.heartbeats import AppCheck, Problem
from courses.models import OutgoingMessage


@dataclass(frozen=True)
class OutboxStatus:
    overdue: int  # e-mails waiting longer than overdue_after past their sending time
    overdue_after: timedelta
    failed_last_day: int  # e-mails marked failed in the last 24 hours


def outbox_status(now: datetime | None = None) -> OutboxStatus:
    now = now or timezone.now()
    overdue_after = timedelta(minutes=getattr(settings, "DEKIRU_OUTBOX_OVERDUE_MINUTES", 15))
    failed = OutgoingMessage.objects.filter(status=OutgoingMessage.Status.FAILED,
                                            channel=OutgoingMessage.Channel.EMAIL,
                                            updated_at__gte=now - timedelta(days=1))
    return OutboxStatus(overdue=OutgoingMessage.objects.due(now - overdue_after).count(), overdue_after=overdue_after,
                        failed_last_day=failed.count())


def outbox_check(now: datetime) -> AppCheck:
    outbox = outbox_status(now)
    minutes = int(outbox.overdue_after.total_seconds() // 60)
    found = []
    if outbox.overdue:
        found.append(Problem("outbox_overdue", "outbox", ngettext(
            "%(count)d e-mail has waited more than %(minutes)d minutes to be sent: is the mail worker running?",
            "%(count)d e-mails have waited more than %(minutes)d minutes to be sent: is the mail worker running?",
            outbox.overdue) % {"count": outbox.overdue, "minutes": minutes}))
    if outbox.failed_last_day:
        found.append(Problem("outbox_failed", "outbox", ngettext(
            "%(count)d e-mail failed in the last 24 hours (see the message log).",
            "%(count)d e-mails failed in the last 24 hours (see the message log).",
            outbox.failed_last_day) % {"count": outbox.failed_last_day}))
    return AppCheck(
        name="outbox",
        data={"overdue": outbox.overdue, "overdue_after_minutes": minutes, "failed_last_day": outbox.failed_last_day},
        problems=found,
        summary=_("Outbox: %(overdue)d e-mail(s) overdue by more than %(minutes)d minutes, "
                  "%(failed)d failed in the last 24 hours.") % {
            "overdue": outbox.overdue, "minutes": minutes, "failed": outbox.failed_last_day})
