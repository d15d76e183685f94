"""Small, explicit builders for tests. Each returns saved objects; pass only what the test is about."""

import itertools
from datetime import timedelta

from django.utils import timezone

from courses.models import CourseGroupPage, CoursePage, Participant, Registration, Session
from courses.page_access import course_group_for
from partners.models import Partner, Venue, Ward
from partners.services import create_partner

_counter = itertools.count(1)


def ward() -> Ward:
    return Ward.objects.order_by("sort_order").first()


def partner(**fields) -> Partner:
    n = next(_counter)
    fields.setdefault("name", f"NPO法人テスト{n}")
    fields.setdefault("name_en", f"Test NPO {n}")
    fields.setdefault("kind", Partner.Kind.NPO)
    return create_partner(**fields)


def venue(**fields) -> Venue:
    n = next(_counter)
    fields.setdefault("name", f"テスト市民館{n}")
    fields.setdefault("ward", ward())
    fields.setdefault("address", "神奈川県川崎市中原区新丸子東3-1100-12")
    fields.setdefault("latitude", "35.580000")
    fields.setdefault("longitude", "139.660000")
    return Venue.objects.create(**fields)


def course(*, owner: Partner | None = None, **fields) -> CoursePage:
    """A published course under the owner's group page (the city's when owner is None)."""
    n = next(_counter)
    group: CourseGroupPage = course_group_for(owner)
    fields.setdefault("title", f"スマホはじめて講座{n}")
    fields.setdefault("slug", f"course-{n}")
    fields.setdefault("title_kana", "スマホハジメテコウザ")
    fields.setdefault("title_en", f"Smartphone basics {n}")
    fields.setdefault("summary", "電源の入れ方から、ゆっくり学びます。")
    fields.setdefault("summary_en", "From switching on, at a gentle pace.")
    fields.setdefault("what_to_bring", "お持ちのスマートフォン")
    page = CoursePage(**fields)
    group.add_child(instance=page)
    page.save_revision().publish()
    return page


def session(*, course_page: CoursePage | None = None, organiser: Partner | None = None, starts_in=timedelta(days=7),
            duration=timedelta(hours=2), capacity=10, **fields) -> Session:
    course_page = course_page or course()
    organiser = organiser or course_page.owner_partner or partner()
    starts_at = timezone.now().replace(microsecond=0) + starts_in
    fields.setdefault("venue", venue())
    return Session.objects.create(course=course_page, organiser=organiser, starts_at=starts_at,
                                  ends_at=starts_at + duration, capacity=capacity, **fields)


def participant(**fields) -> Participant:
    n = next(_counter)
    fields.setdefault("name", f"川崎 花子{n}")
    fields.setdefault("kana", "カワサキ ハナコ")
    fields.setdefault("phone", f"090{n:08d}")
    fields.setdefault("age_band", Participant.AgeBand.AGE_70_74)
    return Participant.objects.create(**fields)


def registration(*, session_obj: Session, status=Registration.Status.CONFIRMED, **fields) -> Registration:
    if "participant" not in fields:
        fields["participant"] = participant()
    if status == Registration.Status.WAITLISTED:
        fields.setdefault("waitlist_position", session_obj.registrations.count() + 1)
    return Registration.objects.create(session=session_obj, status=status, **fields)
