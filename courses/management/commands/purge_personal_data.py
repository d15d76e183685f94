"""Anonymise the participants whose retention period is over (courses.retention). Run from cron once a day:

    30 3 * * *  cd /srv/dekiru && .venv/bin/python manage.py purge_personal_data

Participants whose last session ended more than DEKIRU_RETENTION_MONTHS (default 13) months ago lose their name,
kana, contact details, proxy details and free text; age band, ward, attendance and self-assessments stay for the
statistics. Running it again anonymises no one twice. `--dry-run` only counts who is due.
"""

from django.core.management.base import BaseCommand

from cms.heartbeats import beat
from courses.retention import purge_personal_data


class Command(BaseCommand):
    help = "Anonymise participants whose last session ended more than the retention period ago."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count who is due; change nothing.")

    def handle(self, *args, dry_run=False, **options):
        result = purge_personal_data(dry_run=dry_run)
        cutoff = result.cutoff.strftime("%Y-%m-%d %H:%M %Z")
        if dry_run:
            self.stdout.write(f"Dry run: {result.anonymised} participant(s) would be anonymised "
                              f"(last session ended before {cutoff}).")
        else:
            self.stdout.write(f"Anonymised {result.anonymised} participant(s) (last session ended before {cutoff}): "
                              f"{result.registrations} registration(s), {result.messages} message(s), "
                              f"{result.log_entries} log entr(y/ies) rewritten.")
            beat("purge_personal_data", anonymised=result.anonymised)
