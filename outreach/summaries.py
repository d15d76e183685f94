"""Pre-aggregated figures for the city-wide dashboard (outreach.metrics), so that a fiscal year of a million
registrations is shown in well under a second.

What is stored: per fiscal year, the rows of `metrics` counted by what the city-wide views filter and break down
by (participant's ward and age band, venue's ward, month, course topic, can-do item). People can be added up too,
but only across the participant's own ward and age band (each person is in exactly one such cell): `PeopleSummary`
counts them per cell (attended, first time, in two or more courses, left on a waiting list). Each refresh
recomputes a fiscal year in one transaction, with the very definitions `metrics` uses on the raw rows
(`metrics.booking_counts()` etc.), at one moment `as_of`.

When it is used: `metrics` reads these tables for a whole fiscal year seen city-wide (optionally one ward of
residence, one age band, any roll-up) when the year was refreshed less than `max_age()` ago; anything else (a
month, a partner, a topic, partner staff, no fresh refresh) is computed from the raw rows, which those filters
keep small. The figures are then exact as of the refresh (`metrics.Summary.as_of`), not as of the request: sessions
that ended and registrations marked since are counted at the next refresh.

How it is refreshed: `manage.py refresh_outreach_summaries` from cron (every 15 minutes), or
`outreach.tasks.refresh_outreach_summaries_task`, both through outreach.summary_refresh (which imports metrics;
this module, read by metrics, does not). Tests prove that every figure read from here equals the figure
computed from the raw rows at `as_of`; `plain()` turns the summaries off (tests, benchmarks, comparisons).

The models are registered through `outreach.models`, which imports them.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# Summaries older than this are not used (the raw rows are); cron refreshes every 15 minutes.
DEFAULT_MAX_AGE_MINUTES = 60
NEVER = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


class SummaryRefresh(models.Model):
    """When the summaries of a fiscal year were last computed."""

    fiscal_year = models.PositiveSmallIntegerField(_("fiscal year"), unique=True)
    as_of = models.DateTimeField(_("figures as of"))
    seconds = models.FloatField(_("time taken (seconds)"), default=0)

    class Meta:
        verbose_name = _("summary refresh")
        verbose_name_plural = _("summary refreshes")

    def __str__(self):
        return f"FY{self.fiscal_year} {self.as_of:%Y-%m-%d %H:%M}"


class SessionSummary(models.Model):
    """Sessions of a fiscal year per venue ward (null: online)."""

    fiscal_year = models.PositiveSmallIntegerField()
    ward = models.ForeignKey("partners.Ward", on_delete=models.CASCADE, null=True, related_name="+")
    sessions_held = models.PositiveIntegerField(default=0)
    sessions_cancelled = models.PositiveIntegerField(default=0)
    seats_offered = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["fiscal_year"], name="session_summary_year")]


class RegistrationSummary(models.Model):
    """Registrations of a fiscal year's sessions per month and the participant's ward and age band."""

    fiscal_year = models.PositiveSmallIntegerField()
    month = models.PositiveSmallIntegerField()
    ward = models.ForeignKey("partners.Ward", on_delete=models.CASCADE, null=True, related_name="+")
    age_band = models.CharField(max_length=6, blank=True)
    registrations = models.PositiveIntegerField(default=0)
    attendances = models.PositiveIntegerField(default=0)
    walk_ins = models.PositiveIntegerField(default=0)
    booked_seats_held = models.PositiveIntegerField(default=0)
    attended_booked = models.PositiveIntegerField(default=0)
    no_shows = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["fiscal_year", "month"], name="registration_summary_year")]


class TopicSummary(models.Model):
    """Attendances of a fiscal year per course topic (null: a course without topic), ward and age band. An
    attendance counts once for each topic of its course."""

    fiscal_year = models.PositiveSmallIntegerField()
    topic = models.ForeignKey("courses.Topic", on_delete=models.CASCADE, null=True, related_name="+")
    ward = models.ForeignKey("partners.Ward", on_delete=models.CASCADE, null=True, related_name="+")
    age_band = models.CharField(max_length=6, blank=True)
    attendances = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["fiscal_year"], name="topic_summary_year")]


class PeopleSummary(models.Model):
    """People of a fiscal year per ward of residence and age band (as of the refresh): who attended, of them who
    attended nothing before the year and who attended two or more courses, and who was left on the waiting list
    of a session held."""

    fiscal_year = models.PositiveSmallIntegerField()
    ward = models.ForeignKey("partners.Ward", on_delete=models.CASCADE, null=True, related_name="+")
    age_band = models.CharField(max_length=6, blank=True)
    participants = models.PositiveIntegerField(default=0)
    first_time = models.PositiveIntegerField(default=0)
    repeat = models.PositiveIntegerField(default=0)
    waitlisted = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["fiscal_year"], name="people_summary_year")]


class SkillSummary(models.Model):
    """Paired can-do answers (same registration and item, before and after) of a fiscal year, per ward, age band,
    item and pair of scores."""

    fiscal_year = models.PositiveSmallIntegerField()
    ward = models.ForeignKey("partners.Ward", on_delete=models.CASCADE, null=True, related_name="+")
    age_band = models.CharField(max_length=6, blank=True)
    item = models.ForeignKey("outreach.SkillItem", on_delete=models.CASCADE, related_name="+")
    pre = models.PositiveSmallIntegerField()
    post = models.PositiveSmallIntegerField()
    answers = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["fiscal_year"], name="skill_summary_year")]


class FoundationSummary(models.Model):
    """Post assessments of a fiscal year answering a foundation item, and those all at "on my own" or above."""

    fiscal_year = models.PositiveSmallIntegerField()
    ward = models.ForeignKey("partners.Ward", on_delete=models.CASCADE, null=True, related_name="+")
    age_band = models.CharField(max_length=6, blank=True)
    answered = models.PositiveIntegerField(default=0)
    reached = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["fiscal_year"], name="foundation_summary_year")]


class PartnerSummary(models.Model):
    """The partner comparison of a fiscal year (outreach.reports): per organising partner, its sessions, its
    registrations and the distinct people behind them, and its paired can-do answers, counted as of `as_of` (the
    year's refresh: rows of another moment are not read). People are counted per partner, not per ward and band:
    one row per partner and year, so its distinct counts are exact; they do not add up across partners (one
    person may attend several partners' classes), and the whole programme's are the dashboard's summary.

    Filled by outreach.reports.refresh_partner_summaries(), in the refresh's transaction."""

    fiscal_year = models.PositiveSmallIntegerField()
    as_of = models.DateTimeField()
    partner = models.ForeignKey("partners.Partner", on_delete=models.CASCADE, related_name="+")
    sessions_held = models.PositiveIntegerField(default=0)
    sessions_cancelled = models.PositiveIntegerField(default=0)
    seats_offered = models.PositiveIntegerField(default=0)
    registrations = models.PositiveIntegerField(default=0)
    attendances = models.PositiveIntegerField(default=0)
    unique_participants = models.PositiveIntegerField(default=0)
    participants_65_plus = models.PositiveIntegerField(default=0)
    booked_seats_held = models.PositiveIntegerField(default=0)
    attended_booked = models.PositiveIntegerField(default=0)
    skill_pairs = models.PositiveIntegerField(default=0)
    skill_gain = models.IntegerField(default=0)  # the sum of post − pre over the pairs

    class Meta:
        indexes = [models.Index(fields=["fiscal_year", "as_of"], name="partner_summary_year")]


SUMMARY_MODELS = [SessionSummary, RegistrationSummary, TopicSummary, PeopleSummary, SkillSummary,
                  FoundationSummary]


# --- Using them -------------------------------------------------------------------------------------------------

_plain = contextvars.ContextVar("outreach_summaries_plain", default=False)


@contextlib.contextmanager
def plain():
    """Compute every figure from the raw rows inside this block (tests, benchmarks, checks)."""
    token = _plain.set(True)
    try:
        yield
    finally:
        _plain.reset(token)


def is_plain() -> bool:
    """Whether this code runs inside `plain()`."""
    return _plain.get()


def max_age() -> dt.timedelta:
    return dt.timedelta(minutes=getattr(settings, "DEKIRU_OUTREACH_SUMMARY_MAX_AGE_MINUTES",
                                        DEFAULT_MAX_AGE_MINUTES))


def covers(filters) -> bool:
    """Whether the summaries can answer `filters`: a whole fiscal year, city-wide (ward and age band allowed)."""
    return (not _plain.get() and filters.fiscal_year is not None and not filters.month and filters.scope is None
            and not filters.partner and not filters.topic)


def refreshed(filters) -> SummaryRefresh | None:
    """The fresh refresh that answers `filters`, or None when the raw rows must be used."""
    if not covers(filters):
        return None
    refresh = SummaryRefresh.objects.filter(fiscal_year=filters.fiscal_year).first()
    if refresh is None or refresh.as_of < timezone.now() - max_age():
        return None
    return refresh


def rows(model: type[models.Model], filters):
    """The summary rows of `model` for the filters' fiscal year, ward and age band (the ward of a SessionSummary is
    the venue's, and sessions have no age band: the band filters people only)."""
    queryset = model.objects.filter(fiscal_year=filters.fiscal_year).order_by()
    if filters.ward:
        queryset = queryset.filter(ward_id=filters.ward)
    if filters.band_members is not None and model is not SessionSummary:
        queryset = queryset.filter(age_band__in=filters.band_members)
    return queryset
