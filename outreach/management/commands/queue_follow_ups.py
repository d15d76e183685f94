"""Queue the follow-ups a month after the class (outreach.followups). Run from cron, e.g. hourly:

    15 * * * *  cd /srv/dekiru && .venv/bin/python manage.py queue_follow_ups

One message per registration marked attended of a session that ended DEKIRU_FOLLOW_UP_DAYS (default 30) ago, at
most DEKIRU_FOLLOW_UP_WINDOW_DAYS (default 14) days late; once per person per course. Running it again queues
nothing new. The mail worker sends them (courses.outbox); residents without e-mail or SMS go on the call list.
"""

from django.core.management.base import BaseCommand

from cms.heartbeats import beat
from outreach import followups


class Command(BaseCommand):
    help = "Queue the due follow-ups (about a month after attending). Safe to run repeatedly."

    def handle(self, *args, **options):
        queued = followups.queue_follow_ups()
        self.stdout.write(f"Queued {queued} follow-up(s).")
        beat("queue_follow_ups", follow_ups=queued)
