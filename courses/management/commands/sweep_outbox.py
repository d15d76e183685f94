"""The outbox's safety net. Run from cron, e.g. every 5 minutes:

    */5 * * * *  cd /srv/dekiru && .venv/bin/python manage.py sweep_outbox

Returns messages claimed by a worker that died (lease expired) to the queue, withdraws call-list entries that no
longer make sense, and enqueues a drain task when due e-mails have waited too long (their task was lost or the
worker was down). See courses.outbox.sweep. Staff invitation e-mails (partners.invitations) get the same net: when
one has waited too long, a task that sends every due invitation is enqueued.
"""

from django.core.management.base import BaseCommand

from cms.heartbeats import beat
from courses import outbox
from partners import invitations
from partners.tasks import send_due_invitations_task


class Command(BaseCommand):
    help = "Return abandoned messages to the queue and re-enqueue overdue ones (run every few minutes)."

    def handle(self, *args, **options):
        result = outbox.sweep()
        self.stdout.write(
            f"Released {result.released}, failed {result.gave_up}, withdrew {result.calls_withdrawn} call(s); "
            f"{result.overdue} overdue" + (" (drain task enqueued)." if result.drain_enqueued else "."))
        overdue_invitations = invitations.overdue_count()
        if overdue_invitations:
            send_due_invitations_task.enqueue()
            self.stdout.write(f"{overdue_invitations} overdue staff invitation(s): send task enqueued.")
        beat("sweep_outbox", released=result.released, failed=result.gave_up, overdue=result.overdue)
