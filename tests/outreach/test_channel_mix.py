"""The channel mix on the outreach dashboard (outreach.dashboard.channel_mix): each person with an active booking in the
filters counts once, under the best channel that reaches them (LINE → e-mail → SMS → call only), by age band, in one
query, small counts suppressed; shown as a table and a chart with alt text, for the roles that see the dashboard."""

import itertools

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone, translation
from wagtail.users.models import UserProfile

from courses.models import Registration, UndeliverableContact
from outreach import bands, charts, dashboard, metrics, suppression
from partners.services import add_membership
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

DASHBOARD = "/admin/outreach/dashboard/"
Status = Registration.Status
_n = itertools.count(1)


@pytest.fixture
def no_suppression(settings):
    settings.DEKIRU_SUPPRESSION_THRESHOLD = 1  # every count shown: the buckets themselves are under test
    return settings


def person(session, *, band="75-79", email="", phone=None, line="", consent=False, status=Status.CONFIRMED,
           **registration_fields):
    n = next(_n)
    participant = factories.participant(age_band=band, email=email, line_user_id=line,
                                        phone=f"090{n + 50_000_000:08d}" if phone is None else phone)
    factories.registration(session_obj=session, participant=participant, status=status,
                           sms_consented_at=timezone.now() if consent else None, **registration_fields)
    return participant


@pytest.fixture
def session(site):
    return factories.session()


def year_of(session) -> metrics.Filters:
    return metrics.Filters(fiscal_year=metrics.fiscal_year_of(timezone.localdate(session.starts_at)))


def counts(session, *, rollup=bands.ELDERLY, **filters):
    return dashboard.channel_mix_counts(year_of(session).with_(**filters), rollup=rollup)


# --- The buckets --------------------------------------------------------------------------------------------------


def test_each_person_counts_once_under_the_best_channel(session, no_suppression):
    person(session, line="U" + "a" * 32, email="line@example.jp", consent=True)  # LINE beats everything
    person(session, email="mail@example.jp", consent=True)  # e-mail beats SMS
    person(session, consent=True)  # a mobile with consent: SMS
    person(session)  # a mobile without consent: call only
    person(session, phone="0441234567", consent=True)  # a landline: call only
    person(session, phone="05012345678", consent=True)  # an IP phone (050) receives no SMS
    person(session, band="65-69", email="young@example.jp")
    assert counts(session) == {("75+", "line"): 1, ("75+", "email"): 1, ("75+", "sms"): 1, ("75+", "call"): 3,
                               ("65-74", "email"): 1}


def test_an_undeliverable_contact_moves_the_person_to_the_next_channel(session, no_suppression):
    person(session, email="Bounced@Example.jp", consent=True)  # bounced → SMS
    person(session, email="gone@example.jp")  # bounced, no consent → call
    person(session, phone="09099990000", consent=True)  # the number was reported invalid → call
    UndeliverableContact.objects.create(kind="email", address="bounced@example.jp")
    UndeliverableContact.objects.create(kind="email", address="gone@example.jp")
    UndeliverableContact.objects.create(kind="phone", address="+819099990000")
    assert counts(session) == {("75+", "sms"): 1, ("75+", "call"): 2}


def test_the_best_of_all_their_bookings_and_the_booker_for_those_without_contacts(session, no_suppression):
    participant = person(session)  # no consent on this booking…
    other = factories.session()
    factories.registration(session_obj=other, participant=participant, sms_consented_at=timezone.now())  # …but here
    # No contact of their own: the family member who booked is told, by e-mail.
    person(session, phone="", booked_by=Registration.BookedBy.FAMILY, booker_name="川崎 一郎",
           booker_email="son@example.jp")
    # …or by LINE the booker linked to this booking.
    person(session, phone="", booked_by=Registration.BookedBy.FAMILY, booker_phone="0441234567",
           booker_line_user_id="U" + "b" * 32)
    assert counts(session) == {("75+", "sms"): 1, ("75+", "email"): 1, ("75+", "line"): 1}


def test_only_active_bookings_in_the_filters_count(session, no_suppression):
    person(session, email="a@example.jp", status=Status.CANCELLED)
    person(session, email="b@example.jp", status=Status.WAITLISTED, waitlist_position=1)
    person(session, email="c@example.jp", status=Status.ATTENDED)
    person(session, email="d@example.jp", status=Status.NO_SHOW)
    assert counts(session) == {("75+", "email"): 3}
    later = year_of(session).fiscal_year + 2
    assert dashboard.channel_mix_counts(metrics.Filters(fiscal_year=later), rollup=bands.ELDERLY) == {}
    # A partner's staff see their own partner's classes only.
    assert dashboard.channel_mix_counts(year_of(session).with_(scope=frozenset({factories.partner().pk})),
                                        rollup=bands.ELDERLY) == {}


def test_age_bands_follow_the_roll_up_and_not_given_is_a_row(session, no_suppression):
    person(session, band="85+")
    person(session, band="")
    assert counts(session) == {("75+", "call"): 1, ("", "call"): 1}
    assert counts(session, rollup=bands.DETAIL) == {("85+", "call"): 1, ("", "call"): 1}
    matrix = dashboard.channel_mix(year_of(session), rollup=bands.ELDERLY)
    assert [key for key, _label in matrix.rows] == ["u65", "65-74", "75+", ""]
    assert matrix.value("75+", "call") == 1 and matrix.row_total("") == 1 and matrix.grand_total == 2
    filtered = dashboard.channel_mix(year_of(session).with_(age_band="75+"), rollup=bands.ELDERLY)
    assert [key for key, _label in filtered.rows] == ["75+"] and filtered.grand_total == 1


def test_one_query(session, no_suppression, django_assert_num_queries):
    for index in range(5):
        person(session, email=f"p{index}@example.jp" if index % 2 else "", consent=bool(index % 3))
    with django_assert_num_queries(1):
        first = dashboard.channel_mix(year_of(session), rollup=bands.ELDERLY)
    for index in range(5):
        person(session, band="65-69", line=f"U{index:032d}")
    with django_assert_num_queries(1):
        second = dashboard.channel_mix(year_of(session), rollup=bands.ELDERLY)
    assert second.grand_total == first.grand_total + 5


# --- Suppression ---------------------------------------------------------------------------------------------------


def test_small_counts_are_hidden_and_cannot_be_worked_out(session, settings):
    settings.DEKIRU_SUPPRESSION_THRESHOLD = 3
    for _ in range(4):
        person(session, email=f"{next(_n)}@example.jp")  # 75+ e-mail: 4
    for _ in range(5):
        person(session)  # 75+ call only: 5
    person(session, line="U" + "c" * 32)  # 75+ LINE: 1 → hidden
    matrix = dashboard.channel_mix(year_of(session), rollup=bands.ELDERLY)
    assert matrix.value("75+", "line") == suppression.MARK
    # The row total would give the hidden 1 away (10 − 4 − 5): another entry of the row is hidden too.
    row = [matrix.value("75+", column) for column, _label in matrix.columns] + [matrix.row_total("75+")]
    assert sum(value == suppression.MARK for value in row) >= 2
    body = matrix.body()
    assert all(cell == suppression.MARK or isinstance(cell, int) for line in body for cell in line[1:])
    # The chart and its alt text show the same published numbers.
    with translation.override("en"):
        alt = charts.channel_mix_alt(matrix)
    assert "LINE X" in alt and "X: a figure of fewer than 3 people" in alt
    assert charts.channel_mix(matrix, "svg").startswith(b"<?xml")


def test_zero_is_shown(session, settings):
    settings.DEKIRU_SUPPRESSION_THRESHOLD = 3
    for _ in range(3):
        person(session)
    matrix = dashboard.channel_mix(year_of(session), rollup=bands.ELDERLY)
    assert matrix.value("75+", "line") == 0 and matrix.value("75+", "call") == 3 and matrix.grand_total == 3


# --- The page -----------------------------------------------------------------------------------------------------


def staff(group, partner=None, language="en"):
    user = get_user_model().objects.create_user(f"user{next(_n)}", password="pw")
    user.groups.add(Group.objects.get(name=group))
    if partner:
        add_membership(partner=partner, user=user, role="manager")
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = language
    profile.save()
    return user


@pytest.mark.parametrize(("group", "status"), [
    ("City analyst", 200), ("City administrator", 200), ("City programme officer", 200), ("Partner manager", 200),
    ("Call-centre operator", 403)])
def test_the_dashboard_shows_the_mix_to_those_who_see_the_dashboard(client, session, no_suppression, group, status):
    for _ in range(2):
        person(session)
    person(session, band="65-69", email="x@example.jp")
    partner = session.organiser if group.startswith("Partner") else None
    client.force_login(staff(group, partner=partner))
    year = year_of(session).fiscal_year
    response = client.get(f"{DASHBOARD}?fiscal_year={year}")
    assert response.status_code == status
    if status != 200:
        return
    html = response.content.decode()
    assert 'id="channel-mix-heading"' in html and "How residents can be reached" in html
    assert "Residents by the best channel that reaches them, 3 in all." in html  # the alt text
    assert "dekiru-channel-mix" in html and "/admin/outreach/charts/channel-mix.png" in html
    assert "/admin/outreach/tables/channel-mix.csv" in html
    chart = client.get(f"/admin/outreach/charts/channel-mix.png?fiscal_year={year}")
    assert chart.status_code == 200 and chart["Content-Type"] == "image/png"
    download = client.get(f"/admin/outreach/tables/channel-mix.csv?fiscal_year={year}")
    assert download.status_code == 200
    text = download.content.decode("utf-8-sig")
    assert "Call only" in text and "All channels" in text


def test_a_partner_sees_only_their_own_classes(client, session, no_suppression):
    person(session)
    other = factories.session()
    person(other, email="other@example.jp")
    client.force_login(staff("Partner manager", partner=session.organiser))
    html = client.get(f"{DASHBOARD}?fiscal_year={year_of(session).fiscal_year}").content.decode()
    assert "Residents by the best channel that reaches them, 1 in all." in html


def test_the_page_in_japanese(client, session, no_suppression):
    person(session)
    client.force_login(staff("City analyst", language="ja"))
    html = client.get(f"{DASHBOARD}?fiscal_year={year_of(session).fiscal_year}").content.decode()
    assert "連絡" in html and "電話のみ" in html


def test_suppressed_cells_on_the_page(client, session, settings):
    settings.DEKIRU_SUPPRESSION_THRESHOLD = 3
    person(session, line="U" + "d" * 32)
    for _ in range(4):
        person(session)
    client.force_login(staff("City analyst"))
    html = client.get(f"{DASHBOARD}?fiscal_year={year_of(session).fiscal_year}").content.decode()
    assert 'class="dekiru-number dekiru-hidden">X<' in html
    assert "(not shown: too few people)" in html
