"""Refreshing the pre-aggregated figures (outreach.summaries): each refresh recomputes a fiscal year in one
transaction, with the very definitions `metrics` uses on the raw rows (`metrics.booking_counts()` etc.), at one
moment `as_of`. Run by `manage.py refresh_outreach_summaries` from cron, or `outreach.tasks`.
"""

from __future__ import annotations

import datetime as dt
import time

from django.db import connection, models, transaction
from django.db.models import Count, F, Q
from django.db.models.functions import ExtractMonth
from django.utils import timezone

from courses.models import Registration, Session
from outreach import metrics
from outreach.summaries import (
    NEVER,
    SUMMARY_MODELS,
    FoundationSummary,
    PeopleSummary,
    RegistrationSummary,
    SessionSummary,
    SkillSummary,
    SummaryRefresh,
    TopicSummary,
)

# --- Refreshing them --------------------------------------------------------------------------------------------

def _column(model: type[models.Model], name: str) -> str:
    return model._meta.get_field(name.removeprefix("v_").removesuffix("_id")).column


def _insert_from(model: type[models.Model], queryset, fiscal_year: int) -> None:
    """INSERT INTO the model's table the rows of `queryset`, a values() query whose names are "v_<attname>"."""
    quote = connection.ops.quote_name
    names = list(queryset.query.annotation_select)
    columns = ", ".join(quote(column) for column in ["fiscal_year", *[_column(model, name) for name in names]])
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {quote(model._meta.db_table)} ({columns}) "
                       f"SELECT %s, {', '.join(quote(name) for name in names)} FROM ({sql}) summary_rows",
                       (fiscal_year, *params))


def _insert_people(queryset, fiscal_year: int, start: dt.datetime) -> None:
    """INSERT INTO PeopleSummary the people of `queryset` (one row per participant: v_participant_id, v_ward_id,
    v_age_band, v_attendances, v_courses, v_waitlisted), counted per ward and age band. A first-timer attended in the
    year and nothing that started before `start` (`metrics.attended_before`, here asked once per person rather
    than once per registration: SQLite would not do it for us)."""
    quote = connection.ops.quote_name
    registration, session = Registration._meta, Session._meta

    def column(meta, name):
        return quote(meta.get_field(name).column)

    earlier = (f"EXISTS (SELECT 1 FROM {quote(registration.db_table)} e JOIN {quote(session.db_table)} s "
               f"ON s.{column(session, 'id')} = e.{column(registration, 'session')} "
               f"WHERE e.{column(registration, 'participant')} = people.{quote('v_participant_id')} "
               f"AND e.{column(registration, 'status')} = %s AND s.{column(session, 'starts_at')} < %s)")
    attended = f"people.{quote('v_attendances')} > 0"
    counts = {
        "participants": attended,
        "first_time": f"{attended} AND NOT {earlier}",
        "repeat": f"people.{quote('v_courses')} >= 2",
        "waitlisted": f"people.{quote('v_waitlisted')} > 0",
    }
    keys = [f"people.{quote('v_ward_id')}", f"people.{quote('v_age_band')}"]
    columns = ", ".join(quote(name) for name in ["fiscal_year", "ward_id", "age_band", *counts])
    sums = ", ".join(f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)" for condition in counts.values())
    sql, params = queryset.query.sql_with_params()
    start_value = connection.ops.adapt_datetimefield_value(start)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {quote(PeopleSummary._meta.db_table)} ({columns}) "
                       f"SELECT %s, {', '.join(keys)}, {sums} FROM ({sql}) people GROUP BY {', '.join(keys)}",
                       (fiscal_year, Registration.Status.ATTENDED, start_value, *params))


def _v(**fields):
    return {f"v_{name}": value for name, value in fields.items()}


def refresh(fiscal_year: int, *, now: dt.datetime | None = None) -> SummaryRefresh:
    """Recompute the summaries of one fiscal year from the raw rows, as of `now`, in one transaction (readers see
    the old figures or the new ones, never a mixture of one table). Two refreshes of a year wait for each other."""
    now = now or timezone.now()
    started = time.perf_counter()
    filters = metrics.Filters(fiscal_year=fiscal_year)
    start, _end = filters.period()
    # The row to lock; new, it says "never refreshed" (too old to be used) until this refresh commits.
    SummaryRefresh.objects.get_or_create(fiscal_year=fiscal_year, defaults={"as_of": NEVER})
    with transaction.atomic():
        record = SummaryRefresh.objects.select_for_update().get(fiscal_year=fiscal_year)
        for model in SUMMARY_MODELS:
            model.objects.filter(fiscal_year=fiscal_year).delete()
        person = {"ward_id": F("participant__ward_id"), "age_band": F("participant__age_band")}

        _insert_from(SessionSummary, metrics.sessions(filters).order_by()
                     .values(**_v(ward_id=F("venue__ward_id"))).annotate(**_v(**metrics.session_counts(now))),
                     fiscal_year)

        tz = timezone.get_default_timezone()
        _insert_from(RegistrationSummary, metrics.registrations(filters).order_by()
                     .values(**_v(month=ExtractMonth("session__starts_at", tzinfo=tz), **person))
                     .annotate(**_v(**metrics.booking_counts(now))), fiscal_year)

        _insert_from(TopicSummary, metrics.attendances(filters).order_by()
                     .values(**_v(topic_id=F("session__course__topics"), **person))
                     .annotate(**_v(attendances=Count("pk"))), fiscal_year)

        attended = Q(status=Registration.Status.ATTENDED)
        _insert_people(metrics.registrations(filters).order_by()
                       .values(**_v(participant_id=F("participant_id"), **person))
                       .annotate(**_v(attendances=Count("pk", filter=attended),
                                      courses=Count("session__course_id", distinct=True, filter=attended),
                                      waitlisted=Count("pk", filter=metrics.waiting_in_held_session(now)))),
                       fiscal_year, start)

        prefix = "assessment__registration__participant__"
        _insert_from(SkillSummary, metrics.paired_scores(filters)
                     .values(**_v(ward_id=F(f"{prefix}ward_id"), age_band=F(f"{prefix}age_band"), item_id=F("item_id"),
                                  pre=F("pre_score__score"), post=F("score")))
                     .annotate(**_v(answers=Count("pk"))), fiscal_year)

        prefix = "registration__participant__"
        _insert_from(FoundationSummary, metrics.foundation_assessments(filters).order_by()
                     .values(**_v(ward_id=F(f"{prefix}ward_id"), age_band=F(f"{prefix}age_band")))
                     .annotate(**_v(**metrics.foundation_counts())), fiscal_year)

        # The annual report's partner comparison (outreach.reports), as of the same moment.
        metrics.refresh_partner_summaries(fiscal_year, now)
        record.as_of = now
        record.seconds = round(time.perf_counter() - started, 3)
        record.save(update_fields=["as_of", "seconds"])
    return record


def refresh_years(fiscal_years: list[int] | None = None, *, now: dt.datetime | None = None) -> list[SummaryRefresh]:
    """Refresh the given fiscal years, by default every year with data. Returns the refreshes, newest year first."""
    years = fiscal_years or metrics.fiscal_years_with_data()
    return [refresh(year, now=now) for year in sorted(set(years), reverse=True)]
