"""Every figure of outreach.metrics against values worked out by hand on a small explicit programme.

The programme (times Japan time; "NOW" = 2026-02-15 12:00, so S5 has not happened yet):

Partners A and B. Courses: C1 (A; topics T1, T2), C2 (B; topic T3), C3 (A; no topic).
Venues: VA1 in ward W1 (A's), VB2 in ward W2 (the city's). Wards W1, W2, W3 are the first three of the city.

Participants (age band, ward of residence):
  P1 70-74 W1 · P2 75-79 W1 · P3 65-69 W2 · P4 60-64 W2 · P5 80-84 W1 · P6 85+ W3 · P7 (not given) W1
  P8 30-39 W2 · P9 70-74 (no ward) · P10 50-59 W3 · P11 65-69 W1 · P12 under 20 W2

Sessions and registrations (att = attended, ns = no-show, cx = cancelled, wl = waiting list never promoted,
conf = confirmed, walk = walk-in, attended; web unless "phone"):
  S0 C1/A @VA1 2024-10-10 cap 10 (FY2024): P1 att, P2 ns
  S1 C1/A @VA1 2025-05-12 cap 10: P1 att, P2 att (phone), P5 att, P7 att, P11 ns, P9 cx, P3 wl, P6 walk
  S2 C1/A @VA1 2025-06-09 cap 8:  P1 att, P4 att (phone), P10 conf, P11 att, P12 walk
  S3 C2/B @VB2 2025-06-20 cap 6:  P3 att, P4 att, P8 ns (phone), P2 att, P6 wl, P9 cx
  S4 C2/B @VB2 2025-09-05 cap 10, cancelled: P5 cx, P8 cx (phone)
  S5 C1/A @VB2 2026-03-10 cap 12, still to come: P6 conf, P10 wl, P12 conf (phone)
  S6 C3/A @VA1 2025-11-15 cap 5:  P5 att, P7 ns

Every test runs twice: on the raw rows, and on outreach.summaries refreshed as of NOW (the same hand-worked
values must come out of both).
"""

import datetime as dt
import io
import threading
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import TestCase, override_settings
from django.utils import timezone

from courses.models import Registration, Session, Topic
from outreach import bands, metrics, summaries, summary_refresh
from outreach.models import (
    Consultation,
    ConsultationTopic,
    InternetUsageRate,
    KpiTarget,
    PopulationFigure,
    SelfAssessment,
    SkillItem,
    SkillScore,
)
from partners.models import Ward
from provision.services import ensure_site
from tests import factories

pytestmark = pytest.mark.clock

JST = ZoneInfo("Asia/Tokyo")
NOW = dt.datetime(2026, 2, 15, 12, 0, tzinfo=JST)
Status = Registration.Status
WEB, PHONE, WALK_IN = Registration.Channel.WEB, Registration.Channel.PHONE, Registration.Channel.WALK_IN


def at(year, month, day, hour=10, minute=0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=JST)


def make_session(course, organiser, venue, starts_at, capacity, *, cancelled=False) -> Session:
    return Session.objects.create(
        course=course, organiser=organiser, venue=venue, starts_at=starts_at,
        ends_at=starts_at + dt.timedelta(hours=2), capacity=capacity,
        status=Session.Status.CANCELLED if cancelled else Session.Status.SCHEDULED,
        cancellation_reason="講師の都合" if cancelled else "")


def book(session, participant, status, channel=WEB) -> Registration:
    return factories.registration(session_obj=session, participant=participant, status=status, channel=channel)


def course_with_topics(owner, topics):
    course = factories.course(owner=owner)
    course.topics.set(topics)
    course.save()
    return course


def assess(registration, kind, scores: dict[int, int]) -> None:
    assessment = SelfAssessment.objects.create(registration=registration, kind=kind,
                                               source=SelfAssessment.Source.TABLET)
    for number, score in scores.items():
        SkillScore.objects.create(assessment=assessment, item=SkillItem.objects.get(number=number), score=score)


def summary_fields(figures: metrics.Summary) -> dict:
    return {name: getattr(figures, name) for name in (
        "sessions_held", "sessions_cancelled", "seats_offered", "registrations", "attendances", "walk_ins",
        "unique_participants", "first_time_participants", "repeat_participants", "participants_65_plus",
        "booked_seats_held", "attended_booked", "no_shows", "waitlist_demand", "consultations", "attendance_rate",
        "no_show_rate")}


class Programme:
    """The programme of the module docstring, built once per test class."""

    summarised = False

    @classmethod
    def setUpTestData(cls):
        ensure_site()
        cls.w1, cls.w2, cls.w3 = Ward.objects.order_by("sort_order", "code")[:3]
        cls.a, cls.b = factories.partner(), factories.partner()
        cls.t1 = Topic.objects.create(name="スマホの基本", slug="basics")
        cls.t2 = Topic.objects.create(name="LINE", slug="line")
        cls.t3 = Topic.objects.create(name="マイナンバーカード", slug="my-number")
        cls.t4 = Topic.objects.create(name="地図アプリ", slug="maps")  # no course: an empty column
        c1 = course_with_topics(cls.a, [cls.t1, cls.t2])
        c2 = course_with_topics(cls.b, [cls.t3])
        c3 = course_with_topics(cls.a, [])
        va1 = factories.venue(ward=cls.w1, partner=cls.a)
        vb2 = factories.venue(ward=cls.w2)

        def person(band, ward):
            return factories.participant(age_band=band, ward=ward)

        p = {1: person("70-74", cls.w1), 2: person("75-79", cls.w1), 3: person("65-69", cls.w2),
             4: person("60-64", cls.w2), 5: person("80-84", cls.w1), 6: person("85+", cls.w3),
             7: person("", cls.w1), 8: person("30-39", cls.w2), 9: person("70-74", None),
             10: person("50-59", cls.w3), 11: person("65-69", cls.w1), 12: person("u20", cls.w2)}
        cls.p = p
        s0 = make_session(c1, cls.a, va1, at(2024, 10, 10), 10)
        s1 = make_session(c1, cls.a, va1, at(2025, 5, 12), 10)
        s2 = make_session(c1, cls.a, va1, at(2025, 6, 9), 8)
        s3 = make_session(c2, cls.b, vb2, at(2025, 6, 20, 13, 30), 6)
        s4 = make_session(c2, cls.b, vb2, at(2025, 9, 5), 10, cancelled=True)
        s5 = make_session(c1, cls.a, vb2, at(2026, 3, 10), 12)
        s6 = make_session(c3, cls.a, va1, at(2025, 11, 15), 5)

        r0_1 = book(s0, p[1], Status.ATTENDED)
        book(s0, p[2], Status.NO_SHOW)
        r1_1 = book(s1, p[1], Status.ATTENDED)
        r1_2 = book(s1, p[2], Status.ATTENDED, PHONE)
        r1_5 = book(s1, p[5], Status.ATTENDED)
        book(s1, p[7], Status.ATTENDED)
        book(s1, p[11], Status.NO_SHOW)
        book(s1, p[9], Status.CANCELLED)
        book(s1, p[3], Status.WAITLISTED)
        book(s1, p[6], Status.ATTENDED, WALK_IN)
        book(s2, p[1], Status.ATTENDED)
        r2_4 = book(s2, p[4], Status.ATTENDED, PHONE)
        book(s2, p[10], Status.CONFIRMED)
        r2_11 = book(s2, p[11], Status.ATTENDED)
        book(s2, p[12], Status.ATTENDED, WALK_IN)
        r3_3 = book(s3, p[3], Status.ATTENDED)
        book(s3, p[4], Status.ATTENDED)
        book(s3, p[8], Status.NO_SHOW, PHONE)
        book(s3, p[2], Status.ATTENDED)
        book(s3, p[6], Status.WAITLISTED)
        book(s3, p[9], Status.CANCELLED)
        book(s4, p[5], Status.CANCELLED)
        book(s4, p[8], Status.CANCELLED, PHONE)
        book(s5, p[6], Status.CONFIRMED)
        book(s5, p[10], Status.WAITLISTED)
        book(s5, p[12], Status.CONFIRMED, PHONE)
        book(s6, p[5], Status.ATTENDED)
        book(s6, p[7], Status.NO_SHOW)

        PRE, POST = SelfAssessment.Kind.PRE, SelfAssessment.Kind.POST
        assess(r1_1, PRE, {1: 1, 2: 0, 5: 2})
        assess(r1_1, POST, {1: 2, 2: 1, 5: 3})
        assess(r1_2, PRE, {1: 0, 2: 1})
        assess(r1_2, POST, {1: 3, 2: 2})
        assess(r2_4, PRE, {1: 2, 3: 1})
        assess(r2_4, POST, {1: 2})  # item 3 left unanswered after: no pair
        assess(r1_5, PRE, {1: 0})  # never assessed after
        assess(r3_3, POST, {1: 2, 2: 2, 3: 2, 4: 2})  # never assessed before
        assess(r2_11, POST, {9: 3})  # no foundation item answered
        assess(r0_1, PRE, {1: 0})  # FY2024
        assess(r0_1, POST, {1: 1})

        topic = {t.name_en: t for t in ConsultationTopic.objects.all()}
        Place, Outcome = Consultation.Place, Consultation.Outcome
        for day, place, place_ward, band, residence, names, outcome, minutes in [
            (dt.date(2025, 4, 1), Place.WARD_OFFICE, cls.w1, "70-74", cls.w1,
             ["Basic smartphone use", "LINE and messaging"], Outcome.SOLVED, 20),
            (dt.date(2025, 8, 15), Place.COMMUNITY_CENTRE, cls.w2, "80-84", cls.w2, ["My Number Card"],
             Outcome.REFERRED_CLASS, 30),
            (dt.date(2026, 3, 31), Place.OUTREACH_EVENT, cls.w1, "", None, ["Basic smartphone use"],
             Outcome.SOLVED, 15),
            (dt.date(2025, 3, 31), Place.WARD_OFFICE, cls.w1, "65-69", cls.w1, ["Scams and security"],
             Outcome.REFERRED_ELSEWHERE, 10),
        ]:
            consultation = Consultation.objects.create(
                date=day, place=place, place_ward=place_ward, age_band=band, residence_ward=residence,
                outcome=outcome, duration_minutes=minutes)
            consultation.topics.set([topic[name] for name in names])

        for year, ward, band, population in [
            (2025, cls.w1, "70-74", 2000), (2025, cls.w1, "75-79", 1500), (2025, cls.w1, "80-84", 1000),
            (2025, cls.w3, "85+", 500), (2025, cls.w2, "60-64", 2500), (2025, cls.w1, "65-69", 1250),
            (2025, cls.w2, "u20", 4000), (2025, cls.w2, "65-69", 3000), (2025, cls.w2, "30-39", 5000),
            (2023, cls.w1, "u20", 2000), (2023, cls.w1, "20-29", 1000), (2023, cls.w1, "30-39", 1000),
            (2023, cls.w1, "40-49", 1000), (2023, cls.w1, "50-59", 1000), (2023, cls.w1, "70-74", 1800),
            (2023, cls.w1, "75-79", 1200), (2023, cls.w1, "80-84", 600), (2023, cls.w1, "85+", 400),
        ]:
            PopulationFigure.objects.create(year=year, ward=ward, age_band=band, population=population)
        national = InternetUsageRate.Source.NATIONAL
        for year, rates in {
            2021: {"13-19": "90.0", "20-29": "96.0", "30-39": "96.0", "40-49": "96.0", "50-59": "96.0",
                   "70-79": "60.0", "80+": "28.0", "all": "82.9"},
            2023: {"13-19": "98.0", "20-29": "99.0", "30-39": "98.0", "40-49": "97.0", "50-59": "96.0",
                   "60-69": "90.2", "70-79": "67.0", "80+": "35.0", "all": "86.2"},
        }.items():
            for band, value in rates.items():
                InternetUsageRate.objects.create(year=year, source=national, age_band=band, rate=Decimal(value))
        InternetUsageRate.objects.create(year=2023, source=InternetUsageRate.Source.CITY, age_band="70-79",
                                         rate=Decimal("10.0"))  # another source: never mixed in
        for metric, target in [("participants_65_plus", 11), ("unique_participants", 18), ("attendances", 20),
                               ("sessions_held", 8), ("consultations", 3), ("foundation_on_my_own", 80)]:
            KpiTarget.objects.create(fiscal_year=2025, metric=metric, target=Decimal(target))

        if cls.summarised:
            summary_refresh.refresh_years([2024, 2025], now=NOW)

    # --- helpers ---

    def summary(self, filters):
        """The summary as of NOW: from the summaries where they cover the filters, else from the raw rows."""
        if self.summarised and summaries.covers(filters):
            figures = metrics.summary(filters)
            self.assertEqual(figures.as_of, NOW)
            return figures
        return metrics.summary(filters, now=NOW)

    def fy(self, year=2025, **changes):
        return metrics.Filters(fiscal_year=year, **changes)

    def ward(self, ward):
        return str(ward.pk)


class MetricsTests(Programme):
    """The hand-worked figures (run on the raw rows and on the summaries by the classes below)."""

    # --- headline figures ---

    def test_summary_of_the_year(self):
        self.assertEqual(summary_fields(self.summary(self.fy())), {
            "sessions_held": 4,  # S1, S2, S3, S6 (S4 cancelled, S5 still to come)
            "sessions_cancelled": 1,  # S4
            "seats_offered": 29,  # 10 + 8 + 6 + 5
            "registrations": 24,  # 8 + 5 + 6 + 2 + 3 + 2 rows, less the walk-ins of S1 and S2
            "attendances": 13,  # S1 5, S2 4, S3 3, S6 1
            "walk_ins": 2,  # P6 at S1, P12 at S2
            "unique_participants": 9,  # P1 P2 P3 P4 P5 P6 P7 P11 P12
            "first_time_participants": 8,  # all but P1 (attended S0 in FY2024; P2's S0 was a no-show)
            "repeat_participants": 3,  # P2 (C1, C2), P4 (C1, C2), P5 (C1, C3); P1 twice C1 only
            "participants_65_plus": 6,  # P1 P2 P3 P5 P6 P11
            "booked_seats_held": 15,  # S1 5, S2 4 (P10 confirmed), S3 4, S6 2
            "attended_booked": 11,  # S1 4, S2 3, S3 3, S6 1
            "no_shows": 3,  # P11 at S1, P8 at S3, P7 at S6
            "waitlist_demand": 2,  # P3 (S1), P6 (S3); P10 waits for S5, not held
            "consultations": 3,  # 2025-04-01, 2025-08-15, 2026-03-31 (2025-03-31 is FY2024)
            "attendance_rate": 73.3,  # 11 / 15
            "no_show_rate": 20.0,  # 3 / 15
        })

    def test_summary_of_the_previous_year(self):
        self.assertEqual(summary_fields(self.summary(self.fy(2024))), {
            "sessions_held": 1, "sessions_cancelled": 0, "seats_offered": 10, "registrations": 2, "attendances": 1,
            "walk_ins": 0, "unique_participants": 1, "first_time_participants": 1, "repeat_participants": 0,
            "participants_65_plus": 1, "booked_seats_held": 2, "attended_booked": 1, "no_shows": 1,
            "waitlist_demand": 0, "consultations": 1, "attendance_rate": 50.0, "no_show_rate": 50.0})

    def test_summary_of_a_ward(self):
        # Sessions by venue (S1, S2, S6 in W1); people by residence (P1 P2 P5 P7 P11 live in W1).
        self.assertEqual(summary_fields(self.summary(self.fy(ward=self.w1.pk))), {
            "sessions_held": 3, "sessions_cancelled": 0, "seats_offered": 23,  # 10 + 8 + 5
            "registrations": 11,  # S1 5, S2 2, S3 1, S4 1, S6 2
            "attendances": 8,  # S1 P1 P2 P5 P7, S2 P1 P11, S3 P2, S6 P5
            "walk_ins": 0, "unique_participants": 5, "first_time_participants": 4,  # not P1
            "repeat_participants": 2,  # P2, P5
            "participants_65_plus": 4,  # P1 P2 P5 P11
            "booked_seats_held": 10, "attended_booked": 8, "no_shows": 2,  # P11 at S1, P7 at S6
            "waitlist_demand": 0, "consultations": 1,  # lives in W1: 2025-04-01
            "attendance_rate": 80.0, "no_show_rate": 20.0})

    def test_summary_of_partner_b_and_of_its_staff(self):
        expected = {
            "sessions_held": 1, "sessions_cancelled": 1, "seats_offered": 6,  # S3; S4 cancelled
            "registrations": 8, "attendances": 3, "walk_ins": 0,  # S3 P3 P4 P2
            "unique_participants": 3, "first_time_participants": 3,
            "repeat_participants": 0,  # P2 and P4 also attended A's C1: not B's business
            "participants_65_plus": 2,  # P3, P2
            "booked_seats_held": 4, "attended_booked": 3, "no_shows": 1, "waitlist_demand": 1,  # P6
            "consultations": 0,  # belong to no partner
            "attendance_rate": 75.0, "no_show_rate": 25.0}
        self.assertEqual(summary_fields(self.summary(self.fy(partner=self.b.pk))), expected)
        self.assertEqual(summary_fields(self.summary(self.fy(scope=frozenset([self.b.pk])))), expected)

    def test_summary_of_partner_a_staff(self):
        self.assertEqual(summary_fields(self.summary(self.fy(scope=frozenset([self.a.pk])))), {
            "sessions_held": 3, "sessions_cancelled": 0, "seats_offered": 23,  # S1 S2 S6 (S5 to come)
            "registrations": 16, "attendances": 10, "walk_ins": 2,
            "unique_participants": 8,  # P1 P2 P4 P5 P6 P7 P11 P12
            "first_time_participants": 7, "repeat_participants": 1,  # P5 (C1, C3)
            "participants_65_plus": 5, "booked_seats_held": 11, "attended_booked": 8, "no_shows": 2,
            "waitlist_demand": 1,  # P3
            "consultations": 0, "attendance_rate": 72.7, "no_show_rate": 18.2})

    def test_summary_of_a_staff_member_without_partner(self):
        figures = self.summary(self.fy(scope=frozenset()))
        self.assertEqual((figures.sessions_held, figures.registrations, figures.consultations), (0, 0, 0))

    def test_summary_of_a_topic(self):
        self.assertEqual(summary_fields(self.summary(self.fy(topic=self.t1.pk))), {
            "sessions_held": 2, "sessions_cancelled": 0, "seats_offered": 18,  # C1: S1, S2 (S5 to come)
            "registrations": 14, "attendances": 9, "walk_ins": 2, "unique_participants": 8,
            "first_time_participants": 7, "repeat_participants": 0, "participants_65_plus": 5,
            "booked_seats_held": 9, "attended_booked": 7, "no_shows": 1, "waitlist_demand": 1,
            "consultations": 0,  # consultations have no course topic
            "attendance_rate": 77.8, "no_show_rate": 11.1})

    def test_summary_of_a_month(self):
        self.assertEqual(summary_fields(self.summary(self.fy(month=6))), {
            "sessions_held": 2, "sessions_cancelled": 0, "seats_offered": 14,  # S2, S3
            "registrations": 10, "attendances": 7, "walk_ins": 1,
            "unique_participants": 6,  # P1 P4 P11 P12 P3 P2
            "first_time_participants": 4,  # P4 P11 P12 P3: P1 and P2 attended before June
            "repeat_participants": 1,  # P4: C1 at S2, C2 at S3
            "participants_65_plus": 4, "booked_seats_held": 8, "attended_booked": 6, "no_shows": 1,
            "waitlist_demand": 1, "consultations": 0, "attendance_rate": 75.0, "no_show_rate": 12.5})

    def test_summary_of_the_65_plus(self):
        # People aged 65+: P1 P2 P3 P5 P6 P9 P11. Sessions are not filtered by age band.
        self.assertEqual(summary_fields(self.summary(self.fy(age_band="65+"))), {
            "sessions_held": 4, "sessions_cancelled": 1, "seats_offered": 29,
            "registrations": 15,  # S1 7 (one walk-in), S2 2, S3 4, S4 1, S5 1, S6 1 = 16 rows
            "attendances": 9, "walk_ins": 1, "unique_participants": 6, "first_time_participants": 5,
            "repeat_participants": 2, "participants_65_plus": 6, "booked_seats_held": 9, "attended_booked": 8,
            "no_shows": 1, "waitlist_demand": 2, "consultations": 2,  # 70-74 and 80-84
            "attendance_rate": 88.9, "no_show_rate": 11.1})

    def test_summary_of_rolled_up_bands(self):
        seventies = self.summary(self.fy(age_band="70-79"))  # P1 P2 P9
        self.assertEqual((seventies.registrations, seventies.attendances, seventies.unique_participants,
                          seventies.consultations), (6, 4, 2, 1))
        old_old = self.summary(self.fy(age_band="75+"))  # P2 P5 P6
        self.assertEqual((old_old.attendances, old_old.walk_ins, old_old.unique_participants,
                          old_old.consultations), (5, 1, 3, 1))

    def test_all_time(self):
        figures = self.summary(metrics.Filters())
        self.assertEqual((figures.attendances, figures.unique_participants, figures.first_time_participants),
                         (14, 9, 9))  # FY2024's P1 adds an attendance, not a person; all are first-timers

    def test_first_time_and_repeat_participants_alone(self):
        self.assertEqual(metrics.first_time_participants(self.fy()), 8)
        self.assertEqual(metrics.repeat_participants(self.fy()), 3)
        self.assertEqual(metrics.first_time_participants(self.fy(month=6)), 4)
        self.assertEqual(metrics.repeat_participants(self.fy(scope=frozenset([self.b.pk]))), 0)

    # --- tables ---

    def test_attendance_by_band_and_ward(self):
        w1, w2, w3 = self.ward(self.w1), self.ward(self.w2), self.ward(self.w3)
        matrix = metrics.attendance_by_band(self.fy())
        self.assertEqual(matrix.values, {
            ("70-74", w1): 2, ("75-79", w1): 2, ("80-84", w1): 2, ("", w1): 1, ("85+", w3): 1,
            ("60-64", w2): 2, ("65-69", w1): 1, ("u20", w2): 1, ("65-69", w2): 1})
        self.assertEqual(matrix.grand_total, 13)
        self.assertEqual([row for row, _label in matrix.rows], [*bands.STORED, ""])
        self.assertEqual(len(matrix.columns), Ward.objects.count())

        decade = metrics.attendance_by_band(self.fy(rollup=bands.DECADE))
        self.assertEqual(decade.values, {
            ("70-79", w1): 4, ("80+", w1): 2, ("", w1): 1, ("80+", w3): 1, ("60-69", w2): 3, ("60-69", w1): 1,
            ("u20", w2): 1})
        elderly = metrics.attendance_by_band(self.fy(rollup=bands.ELDERLY))
        self.assertEqual(elderly.values, {
            ("u65", w2): 3, ("65-74", w1): 3, ("65-74", w2): 1, ("75+", w1): 4, ("75+", w3): 1, ("", w1): 1})
        self.assertEqual([row for row, _label in elderly.rows], ["u65", "65-74", "75+", ""])

    def test_attendance_by_band_filtered(self):
        w1 = self.ward(self.w1)
        matrix = metrics.attendance_by_band(self.fy(age_band="65+", rollup=bands.ELDERLY, ward=self.w1.pk))
        self.assertEqual(matrix.values, {("65-74", w1): 3, ("75+", w1): 4})  # P1 ×2, P11; P2 ×2, P5 ×2
        staff_b = metrics.attendance_by_band(self.fy(scope=frozenset([self.b.pk])))
        self.assertEqual(staff_b.grand_total, 3)  # S3 only: none of A's ten

    def test_attendance_by_band_and_topic(self):
        t1, t2, t3 = str(self.t1.pk), str(self.t2.pk), str(self.t3.pk)
        matrix = metrics.attendance_by_band(self.fy(), by="topic")
        c1 = {"70-74": 2, "75-79": 1, "80-84": 1, "": 1, "85+": 1, "60-64": 1, "65-69": 1, "u20": 1}  # S1 + S2
        self.assertEqual(matrix.values, {
            **{(band, t1): n for band, n in c1.items()}, **{(band, t2): n for band, n in c1.items()},
            ("65-69", t3): 1, ("60-64", t3): 1, ("75-79", t3): 1,  # S3: P3 P4 P2
            ("80-84", metrics.NO_WARD): 1})  # S6 (C3 has no topic): P5
        self.assertEqual(matrix.column_total(str(self.t4.pk)), 0)
        self.assertEqual(matrix.columns[-1][0], metrics.NO_WARD)

    def test_monthly_attendance(self):
        matrix = metrics.monthly_attendance(self.fy(month=9), [2024, 2025])  # the month filter does not apply
        self.assertEqual(matrix.values, {("10", "2024"): 1, ("5", "2025"): 5, ("6", "2025"): 7, ("11", "2025"): 1})
        self.assertEqual([row for row, _label in matrix.rows], ["4", "5", "6", "7", "8", "9", "10", "11", "12",
                                                                "1", "2", "3"])
        staff_b = metrics.monthly_attendance(self.fy(scope=frozenset([self.b.pk])), [2024, 2025])
        self.assertEqual(staff_b.values, {("6", "2025"): 3})

    # --- reach ---

    def test_population_year(self):
        self.assertEqual(metrics.population_year(2025), 2025)
        self.assertEqual(metrics.population_year(2026), 2025)
        self.assertEqual(metrics.population_year(2024), 2023)  # the latest year before
        self.assertEqual(metrics.population_year(2020), 2023)  # none before: the nearest
        self.assertEqual(metrics.population_year(None), 2025)

    def test_reach(self):
        w1, w2, w3 = self.ward(self.w1), self.ward(self.w2), self.ward(self.w3)
        reach = metrics.reach(self.fy())
        self.assertEqual(reach.population_year, 2025)
        # P7 (band not given) and P9 (no ward) are not in any cell.
        self.assertEqual(reach.participants.values, {
            ("70-74", w1): 1, ("75-79", w1): 1, ("80-84", w1): 1, ("85+", w3): 1, ("60-64", w2): 1,
            ("65-69", w1): 1, ("u20", w2): 1, ("65-69", w2): 1})
        self.assertEqual(reach.per_thousand.values, {
            ("70-74", w1): 0.5, ("75-79", w1): 0.7, ("80-84", w1): 1.0, ("85+", w3): 2.0, ("60-64", w2): 0.4,
            ("65-69", w1): 0.8, ("u20", w2): 0.3, ("65-69", w2): 0.3, ("30-39", w2): 0.0})  # one decimal, half up

    def test_reach_rolled_up_and_filtered(self):
        w1, w2, w3 = self.ward(self.w1), self.ward(self.w2), self.ward(self.w3)
        elderly = metrics.reach(self.fy(rollup=bands.ELDERLY))
        self.assertEqual(elderly.population.values, {
            ("u65", w2): 11500, ("65-74", w1): 3250, ("65-74", w2): 3000, ("75+", w1): 2500, ("75+", w3): 500})
        self.assertEqual(elderly.per_thousand.values, {
            ("u65", w2): 0.2,  # P4 P12 per 11,500 (0.174)
            ("65-74", w1): 0.6,  # P1 P11 per 3,250 (0.615)
            ("65-74", w2): 0.3, ("75+", w1): 0.8, ("75+", w3): 2.0})
        # Totals divide people by residents (never add or average the rates): a ward's all ages, a band's whole
        # city, and the city's.
        per_thousand = elderly.per_thousand
        self.assertEqual(per_thousand.column_total(w1), 0.7)  # P1 P11 P2 P3 per 5,750 (0.696; the rates add to 1.4)
        self.assertEqual(per_thousand.column_total(w2), 0.2)  # P4 P12 P5 per 14,500 (0.207)
        self.assertEqual(per_thousand.column_total(w3), 2.0)
        self.assertEqual(per_thousand.row_total("65-74"), 0.5)  # P1 P11 P5 per 6,250 (0.48)
        self.assertEqual(per_thousand.row_total("75+"), 1.0)  # P2 P3 P6 per 3,000 (the rates' mean: 1.4)
        self.assertEqual(per_thousand.grand_total, 0.4)  # 8 per 20,750 (0.386)
        self.assertIsNone(per_thousand.row_total("nonsense"))
        aged = metrics.reach(self.fy(age_band="65+"))
        self.assertEqual([row for row, _label in aged.per_thousand.rows], bands.AGED_65_PLUS)
        self.assertEqual(aged.population.values, {("65-69", w1): 1250, ("65-69", w2): 3000, ("70-74", w1): 2000,
                                                  ("75-79", w1): 1500, ("80-84", w1): 1000, ("85+", w3): 500})

    def test_reach_uses_the_latest_population_before_the_year(self):
        reach = metrics.reach(self.fy(2024))
        self.assertEqual(reach.population_year, 2023)
        self.assertEqual(reach.per_thousand.value("70-74", self.ward(self.w1)), 0.6)  # P1 per 1,800 (0.556)

    # --- skills ---

    def test_skills(self):
        rows = {row.number: row for row in metrics.skills(self.fy())}
        self.assertEqual(len(rows), 12)
        one, two, three, five = rows[1], rows[2], rows[3], rows[5]
        # Item 1 pairs: P1 1→2, P2 0→3, P4 2→2 (P5 only before, P3 only after).
        self.assertEqual((one.pairs, one.mean_pre, one.mean_post, one.mean_gain), (3, 1.0, 2.33, 1.33))
        self.assertEqual((one.below_own_before, one.reached_own, one.share_reached), (2, 2, 100.0))
        # Item 2 pairs: P1 0→1, P2 1→2.
        self.assertEqual((two.pairs, two.mean_pre, two.mean_post, two.mean_gain), (2, 0.5, 1.5, 1.0))
        self.assertEqual((two.below_own_before, two.reached_own, two.share_reached), (2, 1, 50.0))
        self.assertEqual((three.pairs, three.mean_gain, three.share_reached), (0, None, None))  # P4 unpaired
        self.assertEqual((five.pairs, five.mean_gain, five.below_own_before, five.share_reached), (1, 1.0, 0, None))

    def test_skills_of_other_years_and_partners(self):
        previous = metrics.skills(self.fy(2024))[0]
        self.assertEqual((previous.pairs, previous.mean_gain, previous.share_reached), (1, 1.0, 0.0))
        self.assertEqual(sum(row.pairs for row in metrics.skills(self.fy(scope=frozenset([self.b.pk])))), 0)
        self.assertEqual(sum(row.pairs for row in metrics.skills(self.fy(age_band="75+"))), 2)  # P2's

    def test_foundation_on_my_own(self):
        # Post assessments answering a foundation item: P1 (item 2 at 1), P2, P4, P3 (P11's answers item 9 only).
        self.assertEqual(metrics.foundation_on_my_own(self.fy()), (75.0, 4))
        self.assertEqual(metrics.foundation_on_my_own(self.fy(scope=frozenset([self.a.pk]))), (66.7, 3))
        self.assertEqual(metrics.foundation_on_my_own(self.fy(scope=frozenset([self.b.pk]))), (100.0, 1))
        self.assertEqual(metrics.foundation_on_my_own(self.fy(ward=self.w2.pk)), (100.0, 2))  # P4, P3
        self.assertEqual(metrics.foundation_on_my_own(self.fy(2024)), (0.0, 1))

    # --- consultations ---

    def test_consultation_figures(self):
        figures = metrics.consultation_figures(self.fy())
        self.assertEqual((figures.total, figures.minutes), (3, 65))
        by_topic = dict(figures.by_topic)
        self.assertEqual((by_topic["スマホの基本操作"], by_topic["LINE・メッセージ"], by_topic["マイナンバーカード"],
                          by_topic["詐欺・セキュリティ"]), (2, 1, 1, 0))
        self.assertEqual(sum(by_topic.values()), 4)  # the first one counts for both its topics
        self.assertEqual([n for _label, n in figures.by_outcome], [2, 1, 0])  # solved, to a class, elsewhere
        self.assertEqual([n for _label, n in figures.by_place], [1, 1, 1])
        self.assertEqual([n for _label, n in figures.by_band], [0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1])
        elderly = metrics.consultation_figures(self.fy(rollup=bands.ELDERLY))
        self.assertEqual([n for _label, n in elderly.by_band], [0, 1, 1, 1])  # u65, 65-74, 75+, not given
        self.assertEqual(metrics.consultation_figures(self.fy(ward=self.w1.pk)).total, 1)

    def test_no_consultations_for_partners(self):
        for filters in (self.fy(scope=frozenset([self.a.pk])), self.fy(partner=self.b.pk)):
            figures = metrics.consultation_figures(filters)
            self.assertEqual((figures.total, figures.minutes), (0, 0))
            self.assertEqual(sum(n for _label, n in figures.by_topic), 0)

    # --- KPIs ---

    def test_kpi_progress(self):
        figures = self.summary(self.fy())
        rows = metrics.kpi_progress(self.fy(), today=dt.date(2025, 10, 1), figures=figures)
        # 183 of 365 days have passed on 2025-10-01: 50.1%.
        self.assertEqual({row.elapsed for row in rows}, {50.1})
        self.assertEqual([(row.metric, row.actual, row.progress, row.on_track) for row in rows], [
            ("attendances", 13, 65.0, True),
            ("consultations", 3, 100.0, True),
            ("foundation_on_my_own", 75.0, 93.8, False),  # a percentage: on track only at 100% of the target
            ("participants_65_plus", 6, 54.5, True),
            ("sessions_held", 4, 50.0, False),  # 50.0 < 50.1
            ("unique_participants", 9, 50.0, False),
        ])
        self.assertEqual(metrics.kpi_progress(self.fy(2024), today=dt.date(2025, 10, 1)), [])

    def test_kpi_actuals_are_for_the_whole_year_when_a_month_is_chosen(self):
        rows = {row.metric: row for row in metrics.kpi_progress(self.fy(month=6), today=dt.date(2025, 10, 1))}
        self.assertEqual(rows["attendances"].actual, 13)

    # --- the divide gap ---

    def test_divide_gap(self):
        rows = {row.year: row for row in metrics.divide_gap()}
        self.assertEqual(list(rows), [2021, 2023])
        # 2023, weighted by the 2023 population: 13-19 (under 20) 2,000, 20-29 … 50-59 1,000 each;
        # 70-79 1,800 + 1,200 = 3,000, 80+ 600 + 400 = 1,000.
        # younger = (98×2000 + 99×1000 + 98×1000 + 97×1000 + 96×1000) / 6000 = 97.67; older = (67×3000 + 35×1000)
        # / 4000 = 59.0 (an unweighted mean would say 97.6 and 51.0).
        self.assertEqual((rows[2023].younger, rows[2023].older, rows[2023].gap, rows[2023].all_ages),
                         (97.7, 59.0, 38.7, 86.2))
        # 2021 has no population of its own or before: the nearest year (2023) weighs it.
        self.assertEqual((rows[2021].younger, rows[2021].older, rows[2021].gap), (94.0, 52.0, 42.0))
        city = metrics.divide_gap(InternetUsageRate.Source.CITY)
        self.assertEqual([(row.year, row.younger, row.older, row.gap) for row in city], [(2023, None, 10.0, None)])

    def test_fiscal_years_with_data(self):
        years = metrics.fiscal_years_with_data()
        self.assertTrue({2024, 2025} <= set(years))
        self.assertIn(metrics.fiscal_year_of(timezone.localdate()), years)
        self.assertEqual(years, sorted(years, reverse=True))


class TestMetricsOnRawRows(MetricsTests, TestCase):
    summarised = False

    def test_nothing_is_read_from_summaries(self):
        self.assertIsNone(summaries.refreshed(self.fy()))


@override_settings(DEKIRU_OUTREACH_SUMMARY_MAX_AGE_MINUTES=10**8)  # NOW is long past
class TestMetricsOnSummaries(MetricsTests, TestCase):
    summarised = True

    def test_the_dashboard_view_is_read_from_summaries(self):
        self.assertIsNotNone(summaries.refreshed(self.fy()))
        self.assertIsNotNone(summaries.refreshed(self.fy(ward=self.w1.pk, age_band="65+", rollup=bands.DECADE)))
        for filters in (self.fy(month=6), self.fy(partner=self.a.pk), self.fy(topic=self.t1.pk),
                        self.fy(scope=frozenset([self.a.pk])), metrics.Filters(), self.fy(2023)):
            self.assertIsNone(summaries.refreshed(filters), filters)
        with summaries.plain():
            self.assertIsNone(summaries.refreshed(self.fy()))
        # refresh check, sessions, registrations, people, consultations
        with self.assertNumQueries(5):
            metrics.summary(self.fy())

    def test_old_summaries_are_not_used(self):
        with override_settings(DEKIRU_OUTREACH_SUMMARY_MAX_AGE_MINUTES=60):
            self.assertIsNone(summaries.refreshed(self.fy()))
            self.assertEqual(metrics.summary(self.fy()).sessions_held, 5)  # now, S5 has been held too


class TestSummariesEqualRawRows(Programme, TestCase):
    """A refresh as of the present gives exactly what the raw rows give at that moment, for every figure, and the
    command and the task refresh."""

    def test_every_figure(self):
        refreshes = summary_refresh.refresh_years([2025, 2024])
        self.assertEqual([refresh.fiscal_year for refresh in refreshes], [2025, 2024])
        w1, w2 = Ward.objects.order_by("sort_order", "code")[:2]
        for filters in (metrics.Filters(fiscal_year=2025), metrics.Filters(fiscal_year=2024),
                        metrics.Filters(fiscal_year=2025, ward=w1.pk),
                        metrics.Filters(fiscal_year=2025, age_band="65+", rollup=bands.ELDERLY),
                        metrics.Filters(fiscal_year=2025, ward=w2.pk, age_band="70-79", rollup=bands.DECADE)):
            self.assertIsNotNone(summaries.refreshed(filters))
            read = metrics.summary(filters)
            self.assertEqual(read, metrics.summary(filters, now=read.as_of))
            for name, compute in [
                ("first time", lambda f: metrics.first_time_participants(f)),
                ("repeat", lambda f: metrics.repeat_participants(f)),
                ("by ward", lambda f: metrics.attendance_by_band(f, by="ward").values),
                ("by topic", lambda f: metrics.attendance_by_band(f, by="topic").values),
                ("monthly", lambda f: metrics.monthly_attendance(f, [2024, 2025]).values),
                ("reach", lambda f: metrics.reach(f)),
                ("skills", lambda f: metrics.skills(f)),
                ("foundation", lambda f: metrics.foundation_on_my_own(f)),
                ("kpi", lambda f: metrics.kpi_progress(f, today=dt.date(2025, 10, 1))),
            ]:
                summarised = compute(filters)
                with summaries.plain():
                    self.assertEqual(summarised, compute(filters), (name, filters))

    def test_refreshing_again_replaces_the_rows(self):
        summary_refresh.refresh(2025)
        counts = [model.objects.count() for model in summaries.SUMMARY_MODELS]
        summary_refresh.refresh(2025)
        self.assertEqual([model.objects.count() for model in summaries.SUMMARY_MODELS], counts)
        # One row per ward × age band of the people registered in the year: here each of the 12 has their own.
        self.assertEqual(summaries.PeopleSummary.objects.filter(fiscal_year=2025).count(), 12)
        self.assertEqual(summaries.SummaryRefresh.objects.count(), 1)

    def test_command_and_task(self):
        from outreach.tasks import refresh_outreach_summaries_task

        call_command("refresh_outreach_summaries", "--fiscal-year", "2024", stdout=io.StringIO())
        self.assertEqual(list(summaries.SummaryRefresh.objects.values_list("fiscal_year", flat=True)), [2024])
        result = refresh_outreach_summaries_task.enqueue([2025])
        self.assertEqual(set(result.return_value), {"2025"})
        self.assertEqual(summaries.SummaryRefresh.objects.count(), 2)


class TestFiscalYears(TestCase):
    def test_fiscal_year_helpers(self):
        self.assertEqual(metrics.fiscal_year_of(dt.date(2026, 3, 31)), 2025)
        self.assertEqual(metrics.fiscal_year_of(dt.date(2026, 4, 1)), 2026)
        self.assertEqual(metrics.fiscal_year_bounds(2025), (dt.date(2025, 4, 1), dt.date(2026, 4, 1)))
        self.assertAlmostEqual(metrics.fiscal_year_elapsed(2025, dt.date(2025, 10, 1)), 183 / 365)
        self.assertEqual(metrics.fiscal_year_elapsed(2025, dt.date(2025, 3, 1)), 0)
        self.assertEqual(metrics.fiscal_year_elapsed(2025, dt.date(2026, 5, 1)), 1)

    def test_rates_round_half_up(self):
        self.assertEqual(metrics.rate(1, 16), 6.3)  # 6.25: round() would give 6.2
        self.assertEqual(metrics.rate(2, 3), 66.7)
        self.assertIsNone(metrics.rate(0, 0))

    def test_sessions_either_side_of_midnight_on_march_31(self):
        ensure_site()
        course = factories.course()
        organiser = factories.partner()
        venue = factories.venue()
        late = make_session(course, organiser, venue, at(2026, 3, 31, 23, 30), 10)
        early = make_session(course, organiser, venue, at(2026, 4, 1, 0, 10), 10)
        book(late, factories.participant(), Status.ATTENDED)
        book(early, factories.participant(), Status.ATTENDED)
        after = at(2026, 4, 2)
        fy2025, fy2026 = metrics.Filters(fiscal_year=2025), metrics.Filters(fiscal_year=2026)
        self.assertEqual(list(metrics.sessions(fy2025)), [late])
        self.assertEqual(list(metrics.sessions(fy2026)), [early])
        self.assertEqual(metrics.summary(fy2025, now=after).attendances, 1)
        self.assertEqual(metrics.summary(fy2026.with_(month=4), now=after).attendances, 1)
        self.assertEqual(metrics.summary(fy2025.with_(month=3), now=after).attendances, 1)
        self.assertEqual(metrics.monthly_attendance(fy2025, [2025, 2026]).values, {("3", "2025"): 1, ("4", "2026"): 1})
        self.assertTrue({2025, 2026} <= set(metrics.fiscal_years_with_data()))
        summary_refresh.refresh_years([2025, 2026])
        self.assertEqual(metrics.summary(fy2025).attendances, 1)
        self.assertEqual(metrics.monthly_attendance(fy2025, [2025, 2026]).values, {("3", "2025"): 1, ("4", "2026"): 1})
        # The Wagtail admin switches to the time zone a user picked in their account: the year stays Japan's.
        for viewer_zone in ("UTC", "America/Los_Angeles"):
            with timezone.override(viewer_zone), summaries.plain():
                self.assertEqual(list(metrics.sessions(fy2025)), [late])
                self.assertEqual(metrics.summary(fy2026.with_(month=4), now=after).attendances, 1)
                self.assertEqual(metrics.monthly_attendance(fy2025, [2025, 2026]).values,
                                 {("3", "2025"): 1, ("4", "2026"): 1})


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_refreshes_of_a_year_at_the_same_time_wait_for_each_other(site):
    course, organiser = factories.course(), factories.partner()
    venue = factories.venue()
    for day in (1, 2, 3):
        session = make_session(course, organiser, venue, at(2025, 5, day), 10)
        for band in ("70-74", "80-84", ""):
            book(session, factories.participant(age_band=band), Status.ATTENDED)
    summary_refresh.refresh(2025)
    alone = {model.__name__: model.objects.count() for model in summaries.SUMMARY_MODELS}
    summaries.SummaryRefresh.objects.all().delete()
    for model in summaries.SUMMARY_MODELS:
        model.objects.all().delete()

    errors = []

    def refresh():
        try:
            summary_refresh.refresh(2025)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=refresh) for _n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert {model.__name__: model.objects.count() for model in summaries.SUMMARY_MODELS} == alone
    assert metrics.summary(metrics.Filters(fiscal_year=2025)).attendances == 9
