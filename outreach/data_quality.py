"""What the figures cannot tell, said next to them: notes per fiscal year on records known to be unreliable.

*Possibly defaulted age bands.* Until the registration form asked explicitly (courses.data_quality: the moment the
migration courses 0006_participant_residence was applied on this installation), the public registration form --
and the phone booking form, which inherits it -- arrived with 「20歳未満」 (under 20) preselected: a resident who
skipped the question was stored as under 20, and such a record cannot be told apart from a real one. A
registration is *possibly defaulted* when its channel is web or phone, it was created before that moment, and its
participant's age band is under 20. Walk-ins were entered by staff with a required band, and are not counted.

The dashboard and the reports show a note on each fiscal year of their figures that contains such registrations,
with their number, and none when there are none. The fiscal year is that of the session's start in the
municipality's time zone, as every figure of outreach.metrics counts registrations, and the filters apply as they
do to the figures (`metrics.registrations`): the note counts the records behind the figures shown, so an age filter
without under 20 has none and partner staff count only their own partners'. One aggregate query, grouped by fiscal
year in the database, with the moment read in the same query.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Case, Count, F, IntegerField, Max, When
from django.db.models.functions import ExtractMonth, ExtractYear
from django.utils import formats, timezone
from django.utils.translation import ngettext

from courses.data_quality import explicit_answers_since_subquery
from courses.models import Participant, Registration
from outreach import metrics

DEFAULTED_CHANNELS = (Registration.Channel.WEB, Registration.Channel.PHONE)


@dataclass(frozen=True)
class DefaultedAgeNote:
    """The possibly defaulted registrations of one fiscal year: how many, and the moment the fix went live."""

    fiscal_year: int
    records: int
    before: dt.datetime

    @property
    def before_label(self) -> str:
        """The moment in the municipality's time zone: the date in the active language, the time as 18:43."""
        moment = timezone.localtime(self.before, timezone.get_default_timezone())
        return f"{formats.date_format(moment, 'DATE_FORMAT')} {moment:%H:%M}"

    def text(self) -> str:
        return ngettext(
            "FY%(year)s: web and phone registrations before %(date)s may count “prefer not to say” as under 20 "
            "(%(count)s record).",
            "FY%(year)s: web and phone registrations before %(date)s may count “prefer not to say” as under 20 "
            "(%(count)s records).",
            self.records) % {"year": self.fiscal_year, "date": self.before_label, "count": self.records}

    def __str__(self) -> str:
        return self.text()


def defaulted_age_notes(filters: metrics.Filters) -> list[DefaultedAgeNote]:
    """A note for each fiscal year of the filters' figures (their period; every year for all time) holding
    possibly defaulted registrations, oldest first. One query."""
    tz = timezone.get_default_timezone()
    since = explicit_answers_since_subquery()
    grouped = (metrics.registrations(filters)
               .filter(channel__in=DEFAULTED_CHANNELS, participant__age_band=Participant.AgeBand.UNDER_20,
                       created_at__lt=since)
               .annotate(calendar_year=ExtractYear("session__starts_at", tzinfo=tz),
                         calendar_month=ExtractMonth("session__starts_at", tzinfo=tz))
               .annotate(fiscal_year=Case(When(calendar_month__gte=metrics.FISCAL_YEAR_FIRST_MONTH,
                                               then=F("calendar_year")),
                                          default=F("calendar_year") - 1, output_field=IntegerField()))
               .values("fiscal_year")
               .annotate(records=Count("pk"), before=Max(since))
               .order_by("fiscal_year"))
    return [DefaultedAgeNote(fiscal_year=row["fiscal_year"], records=row["records"], before=row["before"])
            for row in grouped if row["records"]]
