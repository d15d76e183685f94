"""seed_demo: full-sized, realistic where reports and demos depend on it, deterministic and idempotent.

The command takes several seconds, so a single test runs it and checks everything: a first run inside a
transaction that is rolled back, a second run on the same fresh database (determinism: the same data), the checks,
then a third run that must add and change nothing.
"""

import re
from collections import Counter
from datetime import date, datetime, time, timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.db.models import Avg, Count, Max, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from wagtail.models import ModelLogEntry, Page, PageLogEntry, Revision

from cms.roles import ALL_ROLES, PARTNER_INSTRUCTOR, PARTNER_MANAGER
from courses.models import CourseGroupPage, CoursePage, Participant, Registration, Session
from outreach.models import Consultation, InternetUsageRate, KpiTarget, PopulationFigure, SelfAssessment, SkillScore
from partners.models import Partner, PartnerMembership, Venue, Ward
from provision.management.commands.seed_demo import (
    DEMO_PASSWORD,
    DEMO_USERS,
    FULL_SESSION_NOTE,
    SENIOR_BANDS,
    is_class_day,
)
from tests import clock

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

Status = Registration.Status


class Rollback(Exception):
    pass


def fingerprint():
    """Everything a run decides, without ids and clock times: sessions, participants and registrations."""
    session = ("course__slug", "starts_at", "venue__name")
    sessions = sorted(Session.objects.values_list(
        *session, "organiser__name", "ends_at", "capacity", "status", "cancellation_reason", "notes"))
    people = sorted(Participant.objects.values_list(
        "name", "kana", "email", "phone", "age_band", "ward__code", "device", "accessibility_needs"))
    registrations = sorted(Registration.objects.values_list(
        *[f"session__{field}" for field in session], "participant__name", "participant__email", "participant__phone",
        "status", "channel", "booked_by", "booker_name", "booker_relationship", "booker_email", "booker_phone",
        Coalesce("waitlist_position", 0)))
    consultations = sorted(Consultation.objects.values_list(
        "date", "place", "place_ward__code", "age_band", Coalesce("residence_ward__code", Value("")), "outcome",
        "duration_minutes"))
    assessments = sorted(SelfAssessment.objects.values_list(
        "registration__participant__name", "registration__session__starts_at", "kind", "source",
        Count("scores"), Coalesce(Sum("scores__score"), 0)))
    return sessions, people, registrations, consultations, assessments


def counts():
    User = get_user_model()
    models = [Partner, Venue, Ward, CoursePage, Page, Revision, Session, Participant, Registration, User,
              PartnerMembership, ModelLogEntry, PageLogEntry, Consultation, SelfAssessment, SkillScore,
              PopulationFigure, InternetUsageRate, KpiTarget]
    return {model.__name__: model.objects.count() for model in models}


def last_changes():
    return [model.objects.aggregate(last=Max("updated_at"))["last"] for model in (Session, Participant, Registration)]


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo(client):
    with pytest.raises(Rollback), transaction.atomic():
        seed()
        first = fingerprint()
        raise Rollback  # back to the fresh database
    output = seed()
    assert fingerprint() == first, "two runs on a fresh database gave different data"

    check_sizes()
    check_sessions()
    check_registrations()
    check_participants()
    check_outreach()
    check_logins(output)
    check_public_pages(client)

    before, changed = counts(), last_changes()
    seed()
    assert counts() == before, "a second run added something"
    assert last_changes() == changed, "a second run changed something"
    assert fingerprint() == first


@pytest.mark.parametrize("day", [
    lambda today: today + timedelta(days=365),  # a year on
    lambda today: date(today.year + 2, 1, 1),  # New Year's Day, in the year-end closure
    lambda today: date(today.year + 2, 4, 1),  # the first day of the next
], ids=["a-year-on", "new-year", "fiscal-year-start"])
def test_seed_demo_keeps_to_today(client, day):
    """The demo's dates are relative to today: on a later day, in Tokyo, it still has history up to yesterday and
    classes to come, and the site shows them."""
    moment = datetime.combine(day(timezone.localdate()), time(9, 30), tzinfo=timezone.get_default_timezone())
    with clock.frozen_at(moment, tick=True):
        seed()
        check_sessions()
        check_registrations()
        check_public_pages(client)


def check_public_pages(client):
    """The home page and the class listing offer upcoming classes to book, in both languages (read from the
    pages as a resident sees them: the booking links in the home page's "next classes" and in the listing)."""
    now = timezone.now()
    for prefix in ("", "/en"):
        home = client.get(prefix + "/")
        assert home.status_code == 200
        next_classes = home.content.decode().split('aria-labelledby="next-heading"')[1].split("</section>")[0]
        offered = booking_links(next_classes)
        assert len(offered) == 6  # the home page shows six
        assert not Session.objects.filter(pk__in=offered, starts_at__lte=now).exists()
        listing = client.get(prefix + "/classes/")
        assert listing.status_code == 200
        listed = booking_links(listing.content.decode())
        assert len(listed) >= 10  # a full first page
        assert not Session.objects.filter(pk__in=listed, ends_at__lte=now).exists()


def booking_links(html: str) -> set[int]:
    return {int(pk) for pk in re.findall(r'href="[^"]*/sessions/(\d+)/register/"', html)}


def check_sizes():
    assert Partner.objects.count() >= 10
    assert Partner.objects.values("kind").distinct().count() >= 5
    assert Venue.objects.count() >= 18
    assert Ward.objects.filter(venues__isnull=False).distinct().count() == Ward.objects.count() == 7
    assert CoursePage.objects.live().count() >= 14
    assert 250 <= Session.objects.count() <= 350
    assert 3000 <= Registration.objects.count() <= 5000
    # City courses and partner courses; every course is taught somewhere and names the can-do items it teaches.
    owners = {course.owner_partner for course in CoursePage.objects.all()}
    assert None in owners and len(owners) >= 5
    assert not CoursePage.objects.filter(sessions__isnull=True).exists()
    assert not CoursePage.objects.filter(skills__isnull=True).exists()
    assert not CoursePage.objects.filter(topics__isnull=True).exists()
    assert not CoursePage.objects.filter(Q(title_en="") | Q(summary_en="") | Q(what_to_bring="")).exists()


def check_sessions():
    now = timezone.now()
    today = timezone.localdate()
    this_year = date(today.year if today.month >= 4 else today.year - 1, 4, 1)
    previous_year = date(this_year.year - 1, 4, 1)
    local_starts = [timezone.localtime(s) for s in Session.objects.values_list("starts_at", flat=True)]
    assert any(previous_year <= start.date() < this_year for start in local_starts)
    # This fiscal year's classes so far: none yet on 1 April, maybe none in its first days (drawn at random).
    class_days = [day for day in (this_year + timedelta(days=n) for n in range((today - this_year).days))
                  if is_class_day(day)]
    if len(class_days) >= 10:
        assert any(this_year <= start.date() < today for start in local_starts)
    upcoming = [start for start in local_starts if start > timezone.localtime(now)]
    assert len(upcoming) >= 30 and max(upcoming).date() <= today + timedelta(days=62)
    assert min(local_starts).date() >= previous_year
    assert all(start.weekday() < 5 and 9 <= start.hour < 17 for start in local_starts)

    # Partner-owned courses are run by their partner; carrier shops hold classes only at their shop.
    owners = {group.pk: group.partner_id for group in CourseGroupPage.objects.all()}
    owner_of = {course.pk: owners[course.get_parent().pk] for course in CoursePage.objects.all()}
    for session in Session.objects.select_related("organiser", "venue"):
        assert owner_of[session.course_id] in (None, session.organiser_id)
        if session.organiser.kind == Partner.Kind.CARRIER_SHOP:
            assert session.venue.partner_id == session.organiser_id
        assert session.capacity <= session.venue.capacity

    cancelled = Session.objects.filter(status=Session.Status.CANCELLED)
    assert cancelled.filter(starts_at__lt=now).exists() and cancelled.filter(starts_at__gt=now).exists()
    assert not cancelled.filter(cancellation_reason="").exists()

    scheduled = Session.objects.with_counts().filter(status=Session.Status.SCHEDULED, starts_at__gt=now)
    full = scheduled.get(notes=FULL_SESSION_NOTE)
    assert full.confirmed_count == full.capacity and full.waitlist_count >= 2
    nearly_full = [s for s in scheduled if 1 <= s.capacity - s.confirmed_count <= 2 and s.capacity >= 10]
    assert len(nearly_full) >= 3


def check_registrations():
    now = timezone.now()
    today = timezone.make_aware(datetime.combine(timezone.localdate(), time()))
    past = Registration.objects.filter(session__starts_at__lt=today, session__status=Session.Status.SCHEDULED)
    marked = Counter(past.filter(status__in=[Status.ATTENDED, Status.NO_SHOW]).values_list("status", flat=True))
    assert 0.78 <= marked[Status.ATTENDED] / sum(marked.values()) <= 0.92
    # Classes held before today have their attendance marked; today's wait for the instructor at the door.
    assert not past.filter(status=Status.CONFIRMED).exists()
    assert Registration.objects.filter(status=Status.CANCELLED).count() >= 50

    # Carrier-shop classes are far smaller (national figures: 1.4 attendees a session, against about 6).
    def attendees_per_session(sessions):
        sessions = sessions.filter(starts_at__lt=today, status=Session.Status.SCHEDULED)
        attended = Registration.objects.filter(session__in=sessions, status=Status.ATTENDED).count()
        return attended / sessions.count()

    shops = Session.objects.filter(organiser__kind=Partner.Kind.CARRIER_SHOP)
    assert attendees_per_session(shops) < 3 < 5 < attendees_per_session(Session.objects.exclude(pk__in=shops))

    # Bookings for classes still to come went through the registration service, which writes the audit log.
    upcoming = Registration.objects.filter(session__starts_at__gt=now)
    logged = ModelLogEntry.objects.filter(action__startswith="courses.registration.").values("object_id")
    assert upcoming.count() >= 300
    assert not upcoming.exclude(pk__in=[int(row["object_id"]) for row in logged]).exists()

    shares = Counter(Registration.objects.values_list("booked_by", flat=True))
    total = sum(shares.values())
    assert shares[Registration.BookedBy.SELF] / total > 0.35
    assert shares[Registration.BookedBy.FAMILY] / total > 0.1 and shares[Registration.BookedBy.STAFF] / total > 0.1
    channels = set(Registration.objects.values_list("channel", flat=True))
    assert {Registration.Channel.WEB, Registration.Channel.PHONE, Registration.Channel.WALK_IN} <= channels
    family = Registration.objects.filter(booked_by=Registration.BookedBy.FAMILY)
    assert not family.filter(Q(booker_name="") | Q(booker_relationship="")).exists()
    assert not family.filter(booker_email="", booker_phone="").exists()


def check_participants():
    participants = Participant.objects.all()
    total = participants.count()
    assert participants.filter(age_band__in=SENIOR_BANDS).count() / total > 0.5
    repeat = participants.annotate(n=Count("registrations")).filter(n__gte=2).count()
    assert repeat / total > 0.3
    assert participants.filter(email="", phone="").exists(), "some residents have no contact of their own"
    assert all(ward.participants.count() > total * 0.08 for ward in Ward.objects.all())
    for name, kana, email, phone in participants.values_list("name", "kana", "email", "phone"):
        assert re.fullmatch(r"\S+ \S+", name) and re.fullmatch(r"[ァ-ヶー]+ [ァ-ヶー]+", kana)
        assert not email or email.endswith("@example.jp")
        assert not phone or re.fullmatch(r"0[789]0\d{8}", phone)


def check_outreach():
    """Reference data as shipped; self-assessments and consultations at the shares and skews the demo promises."""
    census = PopulationFigure.objects.filter(year=2020)
    assert census.aggregate(total=Sum("population"))["total"] == 1_539_081
    assert KpiTarget.objects.exists() and InternetUsageRate.objects.filter(age_band="all").exists()

    attended = Registration.objects.filter(status=Status.ATTENDED).count()
    kinds = Counter(SelfAssessment.objects.values_list("kind", flat=True))
    assert 0.55 <= kinds["pre"] / attended <= 0.65 and 0.4 <= kinds["post"] / attended <= 0.5
    assert set(SelfAssessment.objects.values_list("source", flat=True)) == {"paper", "tablet", "online"}
    assert not SelfAssessment.objects.filter(scores__isnull=True).exists()
    assert not SelfAssessment.objects.exclude(registration__status=Status.ATTENDED).exists()
    mean = {kind: SkillScore.objects.filter(assessment__kind=kind).aggregate(mean=Avg("score"))["mean"]
            for kind in ("pre", "post")}
    assert mean["post"] > mean["pre"] + 0.3
    # Scores are on the course's own items (all twelve for a course that names none).
    taught = set(CoursePage.skills.through.objects.values_list("coursepage_id", "skillitem_id"))
    courses_with_items = {course for course, _item in taught}
    scored = set(SkillScore.objects.values_list("assessment__registration__session__course_id", "item_id"))
    assert all(pair in taught for pair in scored if pair[0] in courses_with_items)

    consultations = Consultation.objects.all()
    total = consultations.count()
    today = timezone.localdate()
    assert 1400 <= total <= 1600
    assert consultations.filter(date__gt=today).count() == 0
    assert consultations.filter(date__lt=today - timedelta(days=620)).count() == 0
    assert consultations.filter(date__lt=today - timedelta(days=480)).exists()
    assert consultations.filter(age_band__in=SENIOR_BANDS).count() / total > 0.6
    assert consultations.filter(outcome="solved").count() / total > 0.6
    assert not consultations.filter(topics__isnull=True).exists()
    assert consultations.values("place_ward").distinct().count() == 7
    assert consultations.values("place").distinct().count() == 3


def check_logins(output):
    User = get_user_model()
    usernames = [user.username for user in DEMO_USERS]
    assert DEMO_PASSWORD in output and all(username in output for username in usernames)
    for role in ALL_ROLES:
        assert User.objects.filter(username__in=usernames, groups__name=role).exists(), role
    assert User.objects.get(username="admin").is_superuser
    assert all(user.check_password(DEMO_PASSWORD) for user in User.objects.filter(username__in=usernames))
    managers = PartnerMembership.objects.filter(user__username__in=usernames, role=PartnerMembership.Role.MANAGER,
                                                user__groups__name=PARTNER_MANAGER)
    assert managers.values("partner").distinct().count() >= 2
    assert PartnerMembership.objects.filter(user__username__in=usernames, role=PartnerMembership.Role.INSTRUCTOR,
                                            user__groups__name=PARTNER_INSTRUCTOR).exists()
