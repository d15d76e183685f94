"""Weekly series: expand a partner's rule into dates, create one session per date, and change or cancel every
future session of a series at once.

A class after midnight (start 22:00, 150 minutes) is said so: where staff enter a rule or a change, the “Ends the
next day” box must agree with the start and the length (`ends_next_day`), so a start typed as 22:00 for 10:00 is
caught instead of giving sessions that end at 0:30.

Japanese public holidays are skipped by default (jpholiday, which follows the Cabinet Office's list, including
substitute and citizens' holidays). A rule must yield between 1 and MAX_DATES dates.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import jpholiday
from django.db import transaction
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from cms.audit import acting_user, log
from courses import services
from courses.models import Session, SessionSeries
from courses.services import CapacityBelowConfirmed, RegistrationError

MAX_DATES = 104  # two years of a weekly class


class SeriesRuleError(RegistrationError):
    message = _("This rule does not give any dates.")


@dataclass
class SeriesRule:
    weekdays: list[int]
    start_time: time
    duration_minutes: int
    starts_on: date
    weeks: int | None = None
    ends_on: date | None = None
    excluded_dates: list[date] = field(default_factory=list)
    skip_public_holidays: bool = True
    # What the person said: True “ends the next day”, False “ends the same day”; None (code) is not checked.
    ends_next_day: bool | None = None


def crosses_midnight(start_time: time, duration_minutes: int) -> bool:
    """Whether a class starting at start_time and lasting duration_minutes ends on the next day (local times: the
    municipality's zone has no daylight saving)."""
    return start_time.hour * 60 + start_time.minute + start_time.second / 60 + duration_minutes > 24 * 60


def end_time_of(start_time: time, duration_minutes: int) -> time:
    return (datetime.combine(date.min, start_time) + timedelta(minutes=duration_minutes)).time()


def next_day_mismatch(start_time: time, duration_minutes: int, ends_next_day: bool):
    """The message when the “Ends the next day” box disagrees with the start and the length, else None."""
    end_time = end_time_of(start_time, duration_minutes)
    end = f"{end_time.hour}:{end_time.minute:02d}"
    if crosses_midnight(start_time, duration_minutes) and not ends_next_day:
        return format_lazy(_("With this start time and length the class ends after midnight, at {end} the next day. "
                             "If that is right, tick “Ends the next day”; otherwise check the start time and the "
                             "length."), end=end)
    if ends_next_day and not crosses_midnight(start_time, duration_minutes):
        return format_lazy(_("With this start time and length the class ends the same day, at {end}. Untick “Ends "
                             "the next day”, or check the start time and the length."), end=end)
    return None


@dataclass
class SeriesPreview:
    dates: list[date]
    holidays_skipped: list[tuple[date, str]]
    excluded: list[date]


def expand(rule: SeriesRule) -> SeriesPreview:
    """The dates a rule gives, with the public holidays and excluded dates it skipped (for the preview)."""
    if not rule.weekdays or any(d not in range(7) for d in rule.weekdays):
        raise SeriesRuleError(_("Choose at least one weekday."))
    if rule.duration_minutes <= 0:
        raise SeriesRuleError(_("The length must be more than 0 minutes."))
    if rule.ends_next_day is not None:
        mismatch = next_day_mismatch(rule.start_time, rule.duration_minutes, rule.ends_next_day)
        if mismatch:
            raise SeriesRuleError(mismatch)
    if rule.weeks is None and rule.ends_on is None:
        raise SeriesRuleError(_("Give a number of weeks or a last date."))
    if rule.weeks is not None and rule.weeks <= 0:
        raise SeriesRuleError(_("The number of weeks must be at least 1."))
    if rule.ends_on is not None and rule.ends_on < rule.starts_on:
        raise SeriesRuleError(_("The last date is before the first date."))
    last = rule.ends_on
    if rule.weeks is not None:
        by_weeks = rule.starts_on + timedelta(weeks=rule.weeks) - timedelta(days=1)
        last = min(last, by_weeks) if last else by_weeks
    excluded = set(rule.excluded_dates)
    dates, holidays, skipped = [], [], []
    day = rule.starts_on
    while day <= last:
        if day.weekday() in rule.weekdays:
            holiday = jpholiday.is_holiday_name(day) if rule.skip_public_holidays else None
            if holiday:
                holidays.append((day, holiday))
            elif day in excluded:
                skipped.append(day)
            else:
                dates.append(day)
                if len(dates) > MAX_DATES:
                    raise SeriesRuleError(format_lazy(
                        _("This rule gives more than {max} dates. Please make it shorter."), max=MAX_DATES))
        day += timedelta(days=1)
    if not dates:
        raise SeriesRuleError()
    return SeriesPreview(dates=dates, holidays_skipped=holidays, excluded=skipped)


def create_series(*, course, organiser, rule: SeriesRule, capacity: int, venue=None, online_url: str = "",
                  actor=None) -> SessionSeries:
    """Save the rule and one session per date it gives, in one transaction (all or nothing)."""
    preview = expand(rule)
    tz = timezone.get_current_timezone()
    with transaction.atomic():
        series = SessionSeries.objects.create(
            course=course, organiser=organiser, venue=venue, online_url=online_url, weekdays=sorted(rule.weekdays),
            start_time=rule.start_time, duration_minutes=rule.duration_minutes, starts_on=rule.starts_on,
            weeks=rule.weeks, ends_on=rule.ends_on, excluded_dates=[d.isoformat() for d in rule.excluded_dates],
            skip_public_holidays=rule.skip_public_holidays, capacity=capacity)
        Session.objects.bulk_create(
            Session(course=course, organiser=organiser, venue=venue, online_url=online_url, series=series,
                    starts_at=(start := datetime.combine(day, rule.start_time, tzinfo=tz)),
                    ends_at=start + timedelta(minutes=rule.duration_minutes), capacity=capacity)
            for day in preview.dates)
        log(series, "wagtail.create", user=actor if getattr(actor, "is_authenticated", False) else None)
    return series


class SeriesChangeError(RegistrationError):
    message = _("The series could not be changed.")


_UNCHANGED = services._UNCHANGED


def future_sessions(series: SessionSeries, *, now: datetime | None = None):
    """The sessions of the series that have not started and are not cancelled: what a whole-series change touches."""
    return (series.sessions.filter(starts_at__gt=now or timezone.now())
            .exclude(status=Session.Status.CANCELLED).order_by("starts_at"))


def change_series(*, series: SessionSeries, start_time: time | None = None, duration_minutes: int | None = None,
                  venue=_UNCHANGED, capacity: int | None = None, ends_next_day: bool | None = None, actor=None,
                  now: datetime | None = None) -> list[Session]:
    """Change the time, length, venue or capacity of every future session of the series (each on its own date),
    through services.move_session, so everyone registered or waitlisted on a changed session is told and the
    calendars see a new SEQUENCE. All or nothing: a capacity below one session's confirmed count changes nothing
    and names that date. With a new start time or length, `ends_next_day` (what the person ticked; None from code
    is not checked) must agree with where each changed session ends, or nothing changes and that date is named.
    Returns the sessions that changed."""
    if duration_minutes is not None and duration_minutes <= 0:
        raise SeriesChangeError(_("The length must be more than 0 minutes."))
    check_next_day = ends_next_day is not None and bool(start_time or duration_minutes)
    tz = timezone.get_current_timezone()
    changed = []
    with transaction.atomic():
        series = SessionSeries.objects.select_for_update().get(pk=series.pk)
        for session in future_sessions(series, now=now).select_related("venue"):
            local_start = session.starts_at.astimezone(tz)
            new_start = (datetime.combine(local_start.date(), start_time, tzinfo=tz) if start_time
                         else session.starts_at)
            length = (timedelta(minutes=duration_minutes) if duration_minutes
                      else session.ends_at - session.starts_at)
            before = (session.starts_at, session.ends_at, session.venue_id, session.capacity)
            local_end = (new_start + length).astimezone(tz)
            if check_next_day and (local_end.date() > new_start.astimezone(tz).date()) != ends_next_day:
                raise SeriesChangeError(format_lazy(
                    _("{date}: the class would end at {end}, which does not match “Ends the next day”. Nothing "
                      "was changed."), date=local_start.strftime("%Y-%m-%d"), end=local_end.strftime("%Y-%m-%d %H:%M")))
            try:
                moved = services.move_session(session=session, starts_at=new_start, ends_at=new_start + length,
                                              venue=venue, capacity=capacity, actor=actor)
            except CapacityBelowConfirmed as exc:
                raise SeriesChangeError(format_lazy(
                    _("{date}: more people are already booked than the new capacity. Nothing was changed."),
                    date=local_start.strftime("%Y-%m-%d"))) from exc
            if (moved.starts_at, moved.ends_at, moved.venue_id, moved.capacity) != before:
                changed.append(moved)
        fields = []
        if start_time:
            series.start_time = start_time
            fields.append("start_time")
        if duration_minutes:
            series.duration_minutes = duration_minutes
            fields.append("duration_minutes")
        if venue is not _UNCHANGED:
            series.venue = venue
            fields.append("venue")
        if capacity is not None:
            series.capacity = capacity
            fields.append("capacity")
        if fields:
            series.save(update_fields=fields)
        log(series, "courses.series.changed", user=acting_user(actor),
            data={"fields": fields, "sessions": [s.pk for s in changed]})
    return changed


def cancel_series(*, series: SessionSeries, reason: str, actor=None, now: datetime | None = None) -> list[Session]:
    """Cancel every future session of the series with one reason; each session's people are told
    (services.cancel_session). Sessions already over or cancelled are left as they are."""
    reason = (reason or "").strip()
    if not reason:
        raise RegistrationError(_("Please give a reason for the cancellation."))
    with transaction.atomic():
        series = SessionSeries.objects.select_for_update().get(pk=series.pk)
        cancelled = [services.cancel_session(session=session, reason=reason, actor=actor)
                     for session in future_sessions(series, now=now)]
        log(series, "courses.series.cancelled", user=acting_user(actor),
            data={"reason": reason, "sessions": [s.pk for s in cancelled]})
    return cancelled
