"""Queue the reminders and the thanks-for-coming messages that are due. Run from cron, e.g. every 15 minutes:

    */15 * * * *  cd /srv/dekiru && .venv/bin/python manage.py send_reminders

A reminder is queued for each confirmed registration of a scheduled session starting within
DEKIRU_REMINDER_LEAD_HOURS (default 24), once per session start time (a moved session gets a new one); the thanks
for each registration marked attended of a session that ended within DEKIRU_AFTER_SESSION_WINDOW_HOURS (default
48). Running it again queues nothing new. The mail worker sends them (see courses.outbox); residents without
e-mail get a call-list entry instead.
"""

from django.core.management.base import BaseCommand

from cms.heartbeats import beat
from courses import outbox


class Command(BaseCommand):
    help = "Queue due reminders (the day before a session) and thanks after a session. Safe to run repeatedly."

    def add_arguments(self, parser):
        parser.add_argument("--no-after-session", action="store_true",
                            help="Queue reminders only, not the thanks after a session.")

    def handle(self, *args, no_after_session=False, **options):
        reminders = outbox.queue_reminders()
        thanks = 0 if no_after_session else outbox.queue_after_session()
        self.stdout.write(f"Queued {reminders} reminder(s) and {thanks} thank-you message(s).")
        beat("send_reminders", reminders=reminders, thanks=thanks)
