"""Weekly series: rule expansion with Japanese public holidays, limits, and creating the sessions."""

from datetime import date, time

import pytest
from django.utils import timezone

from courses.models import Session, SessionSeries
from courses.series import MAX_DATES, SeriesRule, SeriesRuleError, create_series, expand
from tests import factories

pytestmark = pytest.mark.clock


def rule(**overrides):
    values = {"weekdays": [0], "start_time": time(10, 0), "duration_minutes": 90, "starts_on": date(2027, 1, 4),
              "weeks": 4}
    return SeriesRule(**{**values, **overrides})


def test_weekly_mondays_skip_coming_of_age_day():
    preview = expand(rule())  # Mondays from 2027-01-04 for 4 weeks; 2027-01-11 is 成人の日
    assert preview.dates == [date(2027, 1, 4), date(2027, 1, 18), date(2027, 1, 25)]
    assert preview.holidays_skipped == [(date(2027, 1, 11), "成人の日")]


def test_holidays_kept_when_asked():
    assert expand(rule(skip_public_holidays=False)).dates == [
        date(2027, 1, 4), date(2027, 1, 11), date(2027, 1, 18), date(2027, 1, 25)]


def test_two_weekdays_an_end_date_and_an_excluded_date():
    preview = expand(rule(weekdays=[1, 3], weeks=None, ends_on=date(2027, 1, 14),
                          excluded_dates=[date(2027, 1, 7)]))
    assert preview.dates == [date(2027, 1, 5), date(2027, 1, 12), date(2027, 1, 14)]
    assert preview.excluded == [date(2027, 1, 7)]


def test_the_earlier_of_weeks_and_end_date_wins():
    assert expand(rule(weeks=10, ends_on=date(2027, 1, 10))).dates == [date(2027, 1, 4)]


@pytest.mark.parametrize(("overrides", "message"), [
    ({"weekdays": []}, "Choose at least one weekday."),
    ({"weeks": None}, "Give a number of weeks or a last date."),
    ({"weeks": None, "ends_on": date(2027, 1, 1)}, "The last date is before the first date."),
    ({"weeks": 1, "weekdays": [0], "starts_on": date(2027, 1, 11)}, "This rule does not give any dates."),
    ({"weeks": 60, "weekdays": [0, 1]}, f"This rule gives more than {MAX_DATES} dates."),
    ({"duration_minutes": 0}, "The length must be more than 0 minutes."),
])
def test_bad_rules_are_refused_with_a_clear_message(overrides, message):
    from django.utils import translation

    with pytest.raises(SeriesRuleError) as excinfo:
        expand(rule(**overrides))
    with translation.override("en"):
        assert message in str(excinfo.value.message)


def test_refusals_are_translated_into_japanese():
    with pytest.raises(SeriesRuleError) as excinfo:
        expand(rule(weekdays=[]))
    assert str(excinfo.value.message) == "曜日を1つ以上選んでください。"


@pytest.mark.django_db
def test_create_series_makes_one_session_per_date_in_tokyo_time(site):
    course = factories.course()
    organiser = factories.partner()
    venue = factories.venue()
    series = create_series(course=course, organiser=organiser, venue=venue, capacity=12, rule=rule())
    sessions = list(series.sessions.order_by("starts_at"))
    assert [timezone.localtime(s.starts_at).date() for s in sessions] == [
        date(2027, 1, 4), date(2027, 1, 18), date(2027, 1, 25)]
    assert all(timezone.localtime(s.starts_at).time() == time(10, 0) for s in sessions)
    assert all((s.ends_at - s.starts_at).total_seconds() == 90 * 60 for s in sessions)
    assert {s.capacity for s in sessions} == {12}
    assert series.excluded_dates == []


@pytest.mark.django_db
def test_a_refused_rule_saves_nothing(site):
    with pytest.raises(SeriesRuleError):
        create_series(course=factories.course(), organiser=factories.partner(), venue=factories.venue(),
                      capacity=10, rule=rule(weekdays=[]))
    assert not SessionSeries.objects.exists()
    assert not Session.objects.exists()


@pytest.fixture
def officer(db, site):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user("officer", password="pw")
    user.groups.add(Group.objects.get(name="City programme officer"))
    return user


def series_post(course, organiser, venue, **overrides):
    data = {"course": course.pk, "organiser": organiser.pk, "venue": venue.pk, "weekdays": ["0"],
            "start_time": "10:00", "duration_minutes": "90", "starts_on": "2027-01-04", "weeks": "4", "ends_on": "",
            "excluded_dates": "", "skip_public_holidays": "on", "capacity": "12"}
    return {**data, **overrides}


@pytest.mark.django_db
def test_a_series_is_previewed_then_created_in_the_admin(client, officer):
    client.force_login(officer)
    course, organiser, venue = factories.course(), factories.partner(), factories.venue()
    url = "/admin/series/new/"
    assert client.get(url).status_code == 200

    preview = client.post(url, series_post(course, organiser, venue, preview="1"))
    body = preview.content.decode()
    assert preview.status_code == 200
    assert "2027-01-18" in body and "成人の日" in body  # the holiday shown as left out
    assert not Session.objects.exists()  # a preview saves nothing

    created = client.post(url, series_post(course, organiser, venue, create="1"))
    assert created.status_code == 302
    series = SessionSeries.objects.get()
    assert series.sessions.count() == 3
    assert series.weekdays == [0]


@pytest.mark.django_db
@pytest.mark.parametrize(("overrides", "message"), [
    ({"weeks": "", "ends_on": "2027-01-01"}, "The last date is before the first date."),
    ({"weeks": "60", "weekdays": ["0", "1"]}, "more than 104 dates"),
    ({"excluded_dates": "2027-13-40"}, "Not a date: 2027-13-40"),
])
def test_bad_rules_in_the_admin_save_nothing(client, officer, overrides, message):
    from django.utils import translation

    client.force_login(officer)
    officer_profile_english(officer)
    course, organiser, venue = factories.course(), factories.partner(), factories.venue()
    with translation.override("en"):
        response = client.post("/admin/series/new/", series_post(course, organiser, venue, create="1", **overrides))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not SessionSeries.objects.exists() and not Session.objects.exists()


def officer_profile_english(user):
    from wagtail.users.models import UserProfile

    profile = UserProfile.get_for_user(user)
    profile.preferred_language = "en"
    profile.save()


@pytest.mark.django_db
def test_analysts_cannot_create_series(client, site):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    analyst = get_user_model().objects.create_user("analyst", password="pw")
    analyst.groups.add(Group.objects.get(name="City analyst"))
    client.force_login(analyst)
    response = client.get("/admin/series/new/")
    assert response.status_code in (302, 403)
    assert client.post("/admin/series/new/", {}).status_code in (302, 403)
