"""The outbox's safety net. Run from cron, e.g. every 5 minutes:

    */5 * * * *  cd /srv/dekiru && .venv/bin/python manage.py sweep_outbox

Returns messages claimed by a worker that died (lease expired) to the queue, withdraws call-list entries that no
longer make sense, and enqueues a drain task when due e-mails have waited too long (their task was lost or the
worker was down). See courses.outbox.sweep.
"""

from django.core.management.base import BaseCommand

from cms.heartbeats import beat
from courses import outbox


class Command(BaseCommand):
    help = "Return abandoned messages to the queue and re-enqueue overdue ones (run every few minutes)."

    def handle(self, *args, **options):
        result = outbox.sweep()
        self.stdout.write(
            f"Released {result.released}, failed {result.gave_up}, withdrew {result.calls_withdrawn} call(s); "
            f"{result.overdue} overdue" + (" (drain task enqueued)." if result.drain_enqueued else "."))
        beat("sweep_outbox", released=result.released, failed=result.gave_up, overdue=result.overdue)
