"""Classes after midnight: staff say so with “Ends the next day” (「翌日に終わる」) in the session form, the series
forms and the timetable import — an end before the start without it is an error, never a guess — and an end on a
later local date reads 翌0:30 / 0:30 (next day) wherever an end time is shown (admin pages, the public calendar,
e-mails)."""

from datetime import date, datetime, time, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.template import Context, Template
from django.utils import timezone, translation

from cms.templatetags.dekiru import end_of, session_when
from courses import emails, outbox, spreadsheets
from courses.models import OutgoingMessage, Registration, Session, SessionSeries
from courses.series import SeriesChangeError, SeriesRule, SeriesRuleError, change_series, create_series, expand
from tests import factories
from tests.courses.test_spreadsheets import _expect_refused, csv_bytes, read, xlsx_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

TZ = timezone.get_default_timezone()
END_BEFORE_START = "The end is before the start. If the class ends after midnight, tick “Ends the next day”."


def errors(form, name) -> list[str]:
    """A form's errors for one field, in English (the messages are read after the request's language is gone)."""
    with translation.override("en"):
        return [str(message) for message in form.errors.get(name, [])]


def local(day, hour, minute=0):
    return datetime.combine(day, time(hour, minute), tzinfo=TZ)


def in_days(n):
    return timezone.localdate() + timedelta(days=n)


def late_session(day=None, **fields):
    """22:00 to 0:30 the next morning, local time, ten days ahead."""
    day = day or in_days(10)
    session = factories.session(**fields)
    Session.objects.filter(pk=session.pk).update(starts_at=local(day, 22),
                                                 ends_at=local(day + timedelta(days=1), 0, 30))
    session.refresh_from_db()
    return session


def officer(language="en"):
    user = get_user_model().objects.create_user(f"officer-{language}", password="pw")
    user.groups.add(Group.objects.get(name="City programme officer"))
    from wagtail.users.models import UserProfile

    profile = UserProfile.get_for_user(user)
    profile.preferred_language = language
    profile.save()
    return user


# --- Display -------------------------------------------------------------------------------------------------------


def test_an_end_after_midnight_reads_next_day_in_both_languages():
    day = date(2027, 1, 5)
    with translation.override("ja"):
        assert end_of(local(day, 10), local(day, 11, 30)) == "11:30"
        assert end_of(local(day, 22), local(day + timedelta(days=1), 0, 30)) == "翌0:30"
        assert end_of(local(day, 22), local(day + timedelta(days=1), 0)) == "翌0:00"
    with translation.override("en"):
        assert end_of(local(day, 10), local(day, 11, 30)) == "11:30"
        assert end_of(local(day, 22), local(day + timedelta(days=1), 0, 30)) == "0:30 (next day)"
    # The local date decides, not UTC's: 8:00 to 10:00 in Tokyo is 23:00 to 1:00 UTC, the same local day.
    assert end_of(local(day, 8), local(day, 10)) == "10:00"


def test_session_when_and_the_template_filter(site):
    session = late_session()
    template = Template("{% load dekiru %}{{ session.starts_at|hour_minute }}–{{ session|end_time }}")
    with translation.override("ja"):
        assert "22:00〜翌0:30" in session_when(session)
        assert template.render(Context({"session": session})) == "22:00–翌0:30"
    with translation.override("en"):
        assert session_when(session).endswith("22:00–0:30 (next day)")
        assert template.render(Context({"session": session})) == "22:00–0:30 (next day)"


@pytest.mark.parametrize(("language", "expected"), [("ja", "22:00〜翌0:30"), ("en", "22:00–0:30 (next day)")])
def test_an_e_mail_says_next_day(site, language, expected):
    session = late_session()
    participant = factories.participant(email="taro@example.jp", language=language, phone="")
    registration = factories.registration(session_obj=session, participant=participant)
    message = outbox.build_message(OutgoingMessage.Kind.CONFIRMED, registration)
    message.save()
    rendered = emails.render(message)
    assert expected in rendered.text
    assert expected in rendered.html


@pytest.mark.parametrize(("language", "expected"), [("ja", "翌0:30"), ("en", "0:30 (next day)")])
def test_admin_pages_show_next_day(client, site, language, expected):
    session = late_session()
    factories.registration(session_obj=session)
    client.force_login(officer(language))
    day = timezone.localtime(session.starts_at).date()
    pages = [f"/admin/sessions/inspect/{session.pk}/", f"/admin/sessions/?starts_at_from={day}",
             f"/admin/roster/{session.pk}/", f"/admin/roster/{session.pk}/sheet/",
             f"/admin/can-do/sessions/{session.pk}/"]
    for address in pages:
        response = client.get(address)
        assert response.status_code == 200, address
        assert expected in response.content.decode(), address


def test_the_public_month_calendar_shows_next_day(client, site):
    session = late_session()
    local_start = timezone.localtime(session.starts_at)
    response = client.get(f"/calendar/{local_start.year}/{local_start.month}/")
    assert response.status_code == 200
    assert "22:00–翌0:30" in response.content.decode()
    response = client.get(f"/en/calendar/{local_start.year}/{local_start.month}/")
    assert "22:00–0:30 (next day)" in response.content.decode()


# --- The session form ----------------------------------------------------------------------------------------------


def session_post(course, organiser, venue, day, **overrides):
    data = {"course": course.pk, "organiser": organiser.pk, "date": day.isoformat(), "start_time": "22:00",
            "end_time": "00:30", "venue": venue.pk, "online_url": "", "capacity": "12", "notes": "", "notes_en": ""}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_an_end_before_the_start_is_an_error_that_names_the_box(client, site):
    client.force_login(officer())
    course, organiser, venue, day = factories.course(), factories.partner(), factories.venue(), in_days(12)
    response = client.post("/admin/sessions/new/", session_post(course, organiser, venue, day))
    assert response.status_code == 200
    assert errors(response.context["form"], "end_time") == [END_BEFORE_START]
    assert not Session.objects.exists()
    # The same end as the start is no class either.
    response = client.post("/admin/sessions/new/", session_post(course, organiser, venue, day, end_time="22:00"))
    assert errors(response.context["form"], "end_time") == [END_BEFORE_START]
    assert not Session.objects.exists()


def test_ticking_ends_the_next_day_puts_the_end_on_the_next_day(client, site):
    client.force_login(officer())
    course, organiser, venue, day = factories.course(), factories.partner(), factories.venue(), in_days(12)
    response = client.post("/admin/sessions/new/", session_post(course, organiser, venue, day, ends_next_day="on"))
    assert response.status_code == 302
    session = Session.objects.get()
    assert (session.starts_at, session.ends_at) == (local(day, 22), local(day + timedelta(days=1), 0, 30))


def test_with_the_box_ticked_a_class_cannot_last_a_day(client, site):
    client.force_login(officer())
    course, organiser, venue, day = factories.course(), factories.partner(), factories.venue(), in_days(12)
    for end in ("23:00", "22:00"):
        response = client.post("/admin/sessions/new/", session_post(course, organiser, venue, day, end_time=end,
                                                                    ends_next_day="on"))
        assert response.status_code == 200
        assert "24 hours or more" in errors(response.context["form"], "end_time")[0]
    assert not Session.objects.exists()


def test_editing_a_late_session_shows_the_box_ticked_and_keeps_it(client, site):
    session = late_session()
    booked = factories.registration(session_obj=session)
    client.force_login(officer())
    page = client.get(f"/admin/sessions/edit/{session.pk}/")
    assert page.status_code == 200
    form = page.context["form"]
    assert form.initial["ends_next_day"] is True
    assert 'name="ends_next_day"' in page.content.decode()
    assert form["ends_next_day"].value() is True
    day = timezone.localtime(session.starts_at).date()
    data = session_post(session.course, session.organiser, session.venue, day, capacity=session.capacity,
                        ends_next_day="on", notes="Bring your phone")
    response = client.post(f"/admin/sessions/edit/{session.pk}/", data)
    assert response.status_code == 302
    after = Session.objects.get(pk=session.pk)
    assert (after.starts_at, after.ends_at, after.sequence) == (session.starts_at, session.ends_at, session.sequence)
    assert not OutgoingMessage.objects.filter(registration=booked, kind=OutgoingMessage.Kind.SESSION_MOVED).exists()
    # Unticking it, the end is before the start: an error, nothing moves.
    data.pop("ends_next_day")
    response = client.post(f"/admin/sessions/edit/{session.pk}/", data)
    assert response.status_code == 200 and errors(response.context["form"], "end_time") == [END_BEFORE_START]
    assert Session.objects.get(pk=session.pk).ends_at == session.ends_at


def test_copying_a_late_session_keeps_the_box_ticked(client, site):
    session = late_session()
    client.force_login(officer())
    page = client.get(f"/admin/sessions/copy/{session.pk}/")
    assert page.status_code == 200
    assert page.context["form"]["ends_next_day"].value() is True


# --- Series --------------------------------------------------------------------------------------------------------


def rule(**overrides):
    values = {"weekdays": [0], "start_time": time(22, 0), "duration_minutes": 150, "starts_on": date(2027, 1, 4),
              "weeks": 2, "skip_public_holidays": False}
    return SeriesRule(**{**values, **overrides})


def test_a_rule_that_crosses_midnight_must_say_so():
    assert len(expand(rule()).dates) == 2  # code that does not say is not checked
    assert len(expand(rule(ends_next_day=True)).dates) == 2
    with translation.override("en"), pytest.raises(SeriesRuleError, match="after midnight, at 0:30 the next day"):
        expand(rule(ends_next_day=False))
    with translation.override("en"), pytest.raises(SeriesRuleError, match="the same day, at 11:30"):
        expand(rule(start_time=time(10, 0), duration_minutes=90, ends_next_day=True))
    assert expand(rule(start_time=time(10, 0), duration_minutes=90, ends_next_day=False)).dates


def series_post(course, organiser, venue, **overrides):
    starts_on = in_days(14)
    data = {"course": course.pk, "organiser": organiser.pk, "venue": venue.pk, "weekdays": [str(starts_on.weekday())],
            "start_time": "22:00", "duration_minutes": "150", "starts_on": starts_on.isoformat(), "weeks": "2",
            "ends_on": "", "excluded_dates": "", "capacity": "12"}
    return {**data, **overrides}


def test_a_late_series_in_the_admin(client, site):
    client.force_login(officer())
    course, organiser, venue = factories.course(), factories.partner(), factories.venue()
    refused = client.post("/admin/series/new/", series_post(course, organiser, venue, create="1"))
    assert refused.status_code == 400
    assert "at 0:30 the next day" in errors(refused.context["form"], "ends_next_day")[0]
    assert not Session.objects.exists()

    preview = client.post("/admin/series/new/", series_post(course, organiser, venue, ends_next_day="on",
                                                            preview="1"))
    assert preview.status_code == 200 and "22:00–0:30 (next day)" in preview.content.decode()
    created = client.post("/admin/series/new/", series_post(course, organiser, venue, ends_next_day="on",
                                                            create="1"))
    assert created.status_code == 302
    starts_on = in_days(14)
    sessions = list(SessionSeries.objects.get().sessions.order_by("starts_at"))
    assert [(s.starts_at, s.ends_at) for s in sessions] == [
        (local(d, 22), local(d + timedelta(days=1), 0, 30)) for d in (starts_on, starts_on + timedelta(weeks=1))]

    same_day = client.post("/admin/series/new/", series_post(course, organiser, venue, start_time="10:00",
                                                             duration_minutes="90", ends_next_day="on",
                                                             create="1"))
    assert same_day.status_code == 400 and "the same day" in errors(same_day.context["form"], "ends_next_day")[0]


def evening_series():
    organiser = factories.partner()
    starts_on = in_days(7)
    return create_series(course=factories.course(owner=organiser), organiser=organiser, venue=factories.venue(),
                         capacity=10, rule=SeriesRule(weekdays=[starts_on.weekday()], start_time=time(19, 0),
                                                      duration_minutes=90, starts_on=starts_on, weeks=3,
                                                      skip_public_holidays=False))


def test_changing_a_series_to_end_after_midnight_must_say_so(site):
    series = evening_series()
    before = list(series.sessions.order_by("starts_at").values_list("starts_at", "ends_at", "sequence"))
    with translation.override("en"), pytest.raises(SeriesChangeError, match="does not match"):
        change_series(series=series, start_time=time(23, 0), ends_next_day=False)
    assert list(series.sessions.order_by("starts_at").values_list("starts_at", "ends_at", "sequence")) == before
    changed = change_series(series=series, start_time=time(23, 0), ends_next_day=True)
    assert len(changed) == 3
    for session in changed:
        start, end = timezone.localtime(session.starts_at, TZ), timezone.localtime(session.ends_at, TZ)
        assert (start.time(), end.time(), end.date() - start.date()) == (time(23), time(0, 30), timedelta(days=1))
    # A change of capacity alone says nothing about the times: the box is not asked for.
    assert len(change_series(series=series, capacity=8, ends_next_day=False)) == 3


def test_the_series_change_form_and_the_occurrence_form(client, site):
    series = evening_series()
    client.force_login(officer())
    refused = client.post(f"/admin/series/{series.pk}/change/", {"start_time": "23:00"})
    assert refused.status_code == 400 and "does not match" in refused.content.decode()
    detail = client.get(f"/admin/series/{series.pk}/")
    assert "19:00–20:30" in detail.content.decode()
    assert client.post(f"/admin/series/{series.pk}/change/",
                       {"start_time": "23:00", "ends_next_day": "on"}).status_code == 302
    detail = client.get(f"/admin/series/{series.pk}/")
    assert "0:30 (next day)" in detail.content.decode()

    session = series.sessions.order_by("starts_at").first()
    url = f"/admin/series/{series.pk}/sessions/{session.pk}/"
    page = client.get(url)
    assert page.context["move_form"]["ends_next_day"].value() is True
    assert "0:30 (next day)" in page.content.decode()
    day = timezone.localtime(session.starts_at, TZ).date()
    move = {"move": "1", "date": day.isoformat(), "start_time": "22:00", "end_time": "01:00",
            "venue": session.venue_id, "capacity": "10"}
    bad = client.post(url, move)
    assert bad.status_code == 400 and errors(bad.context["move_form"], "end_time") == [END_BEFORE_START]
    assert client.post(url, {**move, "ends_next_day": "on"}).status_code == 302
    moved = Session.objects.get(pk=session.pk)
    assert (moved.starts_at, moved.ends_at) == (local(day, 22), local(day + timedelta(days=1), 1))


# --- The timetable import ------------------------------------------------------------------------------------------


HEADERS = ["講座", "会場", "日付", "開始時刻", "終了時刻", "定員"]


@pytest.fixture
def timetable(site):
    from cms import roles
    from tests.courses.test_spreadsheets import staff

    partner = factories.partner()
    course = factories.course(owner=partner, title="夜のスマホ講座")
    venue = factories.venue(name="中原市民館")
    return {"partner": partner, "course": course, "venue": venue, "manager": staff(roles.PARTNER_MANAGER, partner),
            "day": in_days(30)}


def test_an_end_before_the_start_without_the_column_is_an_error_naming_it(timetable):
    day = timetable["day"]
    rows = [HEADERS, ["夜のスマホ講座", "中原市民館", day.isoformat(), "22:00", "0:30", 12]]
    [(row, column, message)] = _expect_refused("sessions", rows, timetable["manager"])
    assert (row, column) == (2, "終了時刻")
    assert message == ("The end is before the start. If the class ends after midnight, write “Yes” in the column "
                       "“Ends the next day”.")
    # With the column saying no (in any of its spellings) it is the same error.
    for no in ("いいえ", "no", "×", "0"):
        rows = [[*HEADERS, "翌日に終わる"], ["夜のスマホ講座", "中原市民館", day.isoformat(), "22:00", "0:30", 12, no]]
        [(_row, column, _message)] = _expect_refused("sessions", rows, timetable["manager"])
        assert column == "終了時刻", no


@pytest.mark.parametrize("header", ["翌日に終わる", "Ends next day", "ends the next day"])
@pytest.mark.parametrize("yes", ["はい", "Yes", "○", "1"])
def test_the_column_puts_the_end_on_the_next_day(timetable, header, yes):
    day = timetable["day"]
    rows = [[*HEADERS, header], ["夜のスマホ講座", "中原市民館", day.isoformat(), "22:00", "0:30", 12, yes],
            ["夜のスマホ講座", "中原市民館", (day + timedelta(days=1)).isoformat(), "10:00", "11:30", 12, ""]]
    report = spreadsheets.apply_import("sessions", read(csv_bytes(rows)), user=timetable["manager"])
    assert (report.new, report.errors) == (2, [])
    assert list(Session.objects.order_by("starts_at").values_list("starts_at", "ends_at")) == [
        (local(day, 22), local(day + timedelta(days=1), 0, 30)),
        (local(day + timedelta(days=1), 10), local(day + timedelta(days=1), 11, 30))]


def test_the_column_cannot_make_a_class_last_a_day_and_refuses_other_words(timetable):
    day = timetable["day"]
    rows = [[*HEADERS, "翌日に終わる"], ["夜のスマホ講座", "中原市民館", day.isoformat(), "22:00", "23:00", 12, "はい"],
            ["夜のスマホ講座", "中原市民館", day.isoformat(), "20:00", "0:30", 12, "たぶん"]]
    errors = _expect_refused("sessions", rows, timetable["manager"])
    by_row = {row: (column, message) for row, column, message in errors}
    assert by_row[2][0] == "翌日に終わる" and "24 hours or more" in by_row[2][1]
    assert by_row[3][0] == "翌日に終わる" and "たぶん" in by_row[3][1]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_late_session_exports_and_imports_back_unchanged(timetable, fmt):
    day = timetable["day"]
    for start, end in ((local(day, 22), local(day + timedelta(days=1), 0, 30)), (local(day, 10), local(day, 11))):
        Session.objects.create(course=timetable["course"], organiser=timetable["partner"], venue=timetable["venue"],
                               starts_at=start, ends_at=end, capacity=12)
    user = timetable["manager"]
    for language, header, yes, no in (("ja", "翌日に終わる", "はい", "いいえ"),
                                      ("en", "Ends the next day", "Yes", "No")):
        with translation.override(language):
            exported = spreadsheets.export("sessions", user=user, fmt=fmt)
            data = b"".join(exported.chunks) if fmt == "csv" else exported.file.read()
            table = read(data, f"x.{fmt}")
            column = table.headers.index(header)
            assert sorted(row[column] for row in table.rows) == sorted([yes, no])
            report = spreadsheets.preview_import("sessions", table, user=user)
        assert (report.new, report.updated, report.unchanged, report.errors) == (0, 0, 2, []), language
    assert xlsx_bytes  # the helper module's formats are the ones used above


def test_moving_a_session_past_midnight_by_import(timetable):
    day = timetable["day"]
    session = Session.objects.create(course=timetable["course"], organiser=timetable["partner"],
                                     venue=timetable["venue"], starts_at=local(day, 19), ends_at=local(day, 20, 30),
                                     capacity=12)
    booked = factories.registration(session_obj=session)
    rows = [["開催回の番号", *HEADERS, "翌日に終わる"],
            [session.pk, "夜のスマホ講座", "中原市民館", day.isoformat(), "23:00", "0:30", 12, "はい"]]
    report = spreadsheets.apply_import("sessions", read(csv_bytes(rows)), user=timetable["manager"])
    assert (report.updated, report.errors) == (1, [])
    moved = Session.objects.get(pk=session.pk)
    assert (moved.starts_at, moved.ends_at) == (local(day, 23), local(day + timedelta(days=1), 0, 30))
    assert Registration.objects.get(pk=booked.pk).status == Registration.Status.CONFIRMED
