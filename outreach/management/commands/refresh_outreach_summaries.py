"""Refresh the outreach dashboard's pre-aggregated figures (outreach.summaries). Run from cron, e.g.:

    */15 * * * *  cd /srv/dekiru && .venv/bin/python manage.py refresh_outreach_summaries --recent
    30 3 * * *    cd /srv/dekiru && .venv/bin/python manage.py refresh_outreach_summaries

Summaries older than DEKIRU_OUTREACH_SUMMARY_MAX_AGE_MINUTES (default 60) are not used: the dashboard then computes
from the raw rows (slower, never wrong), so a stopped cron costs speed, not correctness.
"""

from django.core.management.base import BaseCommand
from django.utils import timezone

from cms.heartbeats import beat
from outreach import metrics, summary_refresh


class Command(BaseCommand):
    help = "Recompute the dashboard's pre-aggregated figures (every fiscal year with data, or those given)."

    def add_arguments(self, parser):
        parser.add_argument("--fiscal-year", type=int, action="append", dest="fiscal_years", metavar="YEAR",
                            help="A fiscal year to refresh (FY2025 = April 2025 to March 2026); repeatable.")
        parser.add_argument("--recent", action="store_true",
                            help="Only the current fiscal year and the one before (late attendance marking).")

    def handle(self, *args, fiscal_years=None, recent=False, **options):
        if recent:
            current = metrics.fiscal_year_of(metrics.municipal_today())
            fiscal_years = [*(fiscal_years or []), current, current - 1]
        for refresh in summary_refresh.refresh_years(fiscal_years):
            self.stdout.write(f"FY{refresh.fiscal_year}: as of {timezone.localtime(refresh.as_of):%Y-%m-%d %H:%M:%S}, "
                              f"{refresh.seconds:.2f} s")
        beat("refresh_outreach_summaries_recent" if recent else "refresh_outreach_summaries")
