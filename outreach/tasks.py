"""Background work of the outreach app: refreshing the dashboard's pre-aggregated figures (outreach.summaries).

Cron runs `manage.py refresh_outreach_summaries` every 15 minutes; this task is for refreshing on demand (e.g.
after a bulk import of attendance), on the default backend. It takes fiscal years, not objects, and is idempotent:
a refresh recomputes a year from the raw rows, so running it twice gives the same rows.
"""

from django_tasks import task

from outreach import summary_refresh


@task()
def refresh_outreach_summaries_task(fiscal_years: list[int] | None = None) -> dict[str, float]:
    """Refresh the given fiscal years (default: every year with data); returns the seconds each took."""
    return {str(refresh.fiscal_year): refresh.seconds for refresh in summary_refresh.refresh_years(fiscal_years)}
