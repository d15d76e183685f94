"""Attendance services (courses/attendance.py): the time window, marking and undoing, waitlisted people who turn
up, walk-ins, the summary, the audit log, and two staff marking the same person at once."""

import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.models import QuerySet
from django.utils import translation
from wagtail.models import ModelLogEntry

from courses import attendance
from courses.models import Participant, Registration, Session
from courses.services import ParticipantDetails, RegistrationError, register
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

Status = Registration.Status
TOKYO = ZoneInfo("Asia/Tokyo")


def started_session(**fields) -> Session:
    """A session that started an hour ago: attendance is open."""
    return factories.session(starts_in=-timedelta(hours=1), **fields)


def logged(registration, action) -> int:
    return ModelLogEntry.objects.filter(action=f"courses.registration.{action}",
                                        object_id=str(registration.pk)).count()


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(username="door", password="x")


# --- The window -------------------------------------------------------------------------------------------


@pytest.fixture
def afternoon_session(site):
    """14:00–16:00 Tokyo time on 10 May 2030."""
    session = factories.session()
    session.starts_at = datetime(2030, 5, 10, 14, 0, tzinfo=TOKYO)
    session.ends_at = datetime(2030, 5, 10, 16, 0, tzinfo=TOKYO)
    session.save()
    return session


@pytest.mark.parametrize(("now", "open_"), [
    (datetime(2030, 5, 9, 23, 59, 59, tzinfo=TOKYO), False),  # the evening before
    (datetime(2030, 5, 10, 0, 0, tzinfo=TOKYO), True),  # from midnight of the session day (check-in before start)
    (datetime(2030, 5, 10, 13, 30, tzinfo=TOKYO), True),
    (datetime(2030, 5, 10, 15, 0, tzinfo=TOKYO), True),
    (datetime(2030, 5, 24, 16, 0, tzinfo=TOKYO), True),  # 14 days after the end: paper sheets
    (datetime(2030, 5, 24, 16, 0, 1, tzinfo=TOKYO), False),
])
def test_attendance_window(afternoon_session, now, open_):
    assert attendance.can_take_attendance(afternoon_session, now=now) is open_


def test_the_window_starts_at_local_midnight_not_utc_midnight(afternoon_session):
    # 00:30 JST on the session day is still the previous day in UTC.
    assert attendance.can_take_attendance(afternoon_session, now=datetime(2030, 5, 9, 15, 30, tzinfo=ZoneInfo("UTC")))


def test_never_for_a_cancelled_session(afternoon_session):
    afternoon_session.status = Session.Status.CANCELLED
    afternoon_session.cancellation_reason = "台風"
    afternoon_session.save()
    assert not attendance.can_take_attendance(afternoon_session, now=datetime(2030, 5, 10, 14, 30, tzinfo=TOKYO))
    registration = factories.registration(session_obj=afternoon_session)
    with pytest.raises(attendance.AttendanceError):
        attendance.mark_attendance(registration=registration, attended=True,
                                   now=datetime(2030, 5, 10, 14, 30, tzinfo=TOKYO))


def test_marking_outside_the_window_is_refused_and_changes_nothing(afternoon_session):
    registration = factories.registration(session_obj=afternoon_session)
    with pytest.raises(attendance.AttendanceClosed) as refused:
        attendance.mark_attendance(registration=registration, attended=True,
                                   now=datetime(2030, 5, 9, 20, 0, tzinfo=TOKYO))
    assert "14日後" in str(refused.value.message)  # Japanese by default
    with translation.override("en"):
        assert "14 days" in str(refused.value.message)
    registration.refresh_from_db()
    assert registration.status == Status.CONFIRMED
    assert not ModelLogEntry.objects.filter(action__startswith="courses.registration.").exists()


def test_marking_within_the_window_with_an_explicit_now(afternoon_session):
    registration = factories.registration(session_obj=afternoon_session)
    attendance.mark_attendance(registration=registration, attended=False,
                               now=datetime(2030, 5, 20, 9, 0, tzinfo=TOKYO))
    registration.refresh_from_db()
    assert registration.status == Status.NO_SHOW


# --- Marking ----------------------------------------------------------------------------------------------


def test_attended_no_show_and_undo_each_write_an_audit_entry(site, staff_user):
    registration = factories.registration(session_obj=started_session())

    marked = attendance.mark_attendance(registration=registration, attended=True, actor=staff_user)
    assert marked.status == Status.ATTENDED
    marked = attendance.mark_attendance(registration=registration, attended=False, actor=staff_user)
    assert marked.status == Status.NO_SHOW
    marked = attendance.mark_attendance(registration=registration, attended=None, actor=staff_user)
    assert marked.status == Status.CONFIRMED

    registration.refresh_from_db()
    assert registration.status == Status.CONFIRMED
    assert [logged(registration, a) for a in ("attended", "no_show", "attendance_undone")] == [1, 1, 1]
    entry = ModelLogEntry.objects.get(action="courses.registration.no_show")
    assert entry.user == staff_user
    assert entry.data["previous_status"] == Status.ATTENDED


def test_marking_twice_is_idempotent(site):
    registration = factories.registration(session_obj=started_session())
    attendance.mark_attendance(registration=registration, attended=True)
    again = attendance.mark_attendance(registration=registration, attended=True)
    assert again.status == Status.ATTENDED
    assert logged(registration, "attended") == 1  # no second entry for a mark that changed nothing


def test_undo_of_an_unmarked_person_changes_nothing(site):
    registration = factories.registration(session_obj=started_session())
    assert attendance.mark_attendance(registration=registration, attended=None).status == Status.CONFIRMED
    assert logged(registration, "attendance_undone") == 0


def test_works_from_a_stale_object(site):
    """The services read the row under the lock: a stale copy in the caller's hands does no harm."""
    registration = factories.registration(session_obj=started_session())
    stale = Registration.objects.get(pk=registration.pk)
    attendance.mark_attendance(registration=registration, attended=True)
    assert attendance.mark_attendance(registration=stale, attended=True).status == Status.ATTENDED
    assert logged(registration, "attended") == 1


def test_marking_locks_the_session_and_the_registration(site, monkeypatch):
    registration = factories.registration(session_obj=started_session())
    locked = []
    real = QuerySet.select_for_update

    def recording(self, *args, **kwargs):
        locked.append(self.model)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(QuerySet, "select_for_update", recording)
    attendance.mark_attendance(registration=registration, attended=True)
    assert locked == [Session, Registration]  # the booking services' order: no deadlock with them


def test_a_cancelled_registration_cannot_be_marked(site):
    registration = factories.registration(session_obj=started_session(), status=Status.CANCELLED)
    with pytest.raises(attendance.NotOnRoster):
        attendance.mark_attendance(registration=registration, attended=True)


def test_attendance_error_is_a_registration_error_with_a_message(site):
    assert issubclass(attendance.AttendanceError, RegistrationError)
    assert str(attendance.WalkInDetailsMissing().message)


# --- A waitlisted person who turns up -------------------------------------------------------------------


def test_a_waitlisted_person_who_comes_is_seated_as_attended_and_the_others_keep_their_places(site):
    session = started_session(capacity=1)
    factories.registration(session_obj=session)
    first = factories.registration(session_obj=session, status=Status.WAITLISTED, waitlist_position=1)
    second = factories.registration(session_obj=session, status=Status.WAITLISTED, waitlist_position=2)
    third = factories.registration(session_obj=session, status=Status.WAITLISTED, waitlist_position=3)

    attendance.mark_attendance(registration=second, attended=True)

    second.refresh_from_db()
    assert (second.status, second.waitlist_position) == (Status.ATTENDED, None)
    assert second.confirmed_at is not None
    first.refresh_from_db()
    third.refresh_from_db()
    assert (first.waitlist_position, third.waitlist_position) == (1, 3)  # order kept (gaps are allowed)
    from courses.models import waitlist_rank

    assert (waitlist_rank(first), waitlist_rank(third)) == (1, 2)
    assert logged(second, "attended") == 1


def test_a_waitlisted_person_cannot_be_a_no_show_and_undo_does_nothing(site):
    session = started_session(capacity=0)
    waiting = factories.registration(session_obj=session, status=Status.WAITLISTED, waitlist_position=1)
    with pytest.raises(attendance.WaitlistedNoShow):
        attendance.mark_attendance(registration=waiting, attended=False)
    assert attendance.mark_attendance(registration=waiting, attended=None).status == Status.WAITLISTED
    waiting.refresh_from_db()
    assert (waiting.status, waiting.waitlist_position) == (Status.WAITLISTED, 1)


def test_the_waiting_list_still_works_after_seating_someone_from_it(site):
    session = factories.session(starts_in=timedelta(hours=3), capacity=1)
    details = [ParticipantDetails(name=f"待機 {n}", phone=f"0901111{n:04d}") for n in range(3)]
    results = [register(session=session, participant=d) for d in details]
    assert [r.registration.status for r in results] == [Status.CONFIRMED, Status.WAITLISTED, Status.WAITLISTED]
    attendance.mark_attendance(registration=results[1].registration, attended=True, now=session.starts_at)
    late = register(session=session, participant=ParticipantDetails(name="遅い 人", phone="09022223333"))
    assert late.registration.status == Status.WAITLISTED
    assert late.registration.waitlist_position == 3


# --- Walk-ins ---------------------------------------------------------------------------------------------


def test_a_walk_in_is_attendance_even_when_the_session_is_full(site, staff_user):
    session = started_session(capacity=1)
    factories.registration(session_obj=session)
    ward = factories.ward()

    walk_in = attendance.add_walk_in(session=session, age_band=Participant.AgeBand.AGE_75_79, ward=ward,
                                     actor=staff_user)

    walk_in.refresh_from_db()
    assert walk_in.status == Status.ATTENDED
    assert walk_in.channel == Registration.Channel.WALK_IN
    assert walk_in.booked_by == Registration.BookedBy.STAFF
    assert walk_in.created_by == staff_user
    person = walk_in.participant
    assert (person.name, person.email, person.phone, person.age_band, person.ward) == (
        "", "", "", "75-79", ward)
    assert logged(walk_in, "walk_in_added") == 1
    assert attendance.attendance_summary(session)["attended"] == 1


def test_a_walk_in_name_is_optional_and_normalised(site):
    walk_in = attendance.add_walk_in(session=started_session(), age_band="80-84", ward=factories.ward().pk,
                                     name="  幸　花子 ", kana="さいわい はなこ")
    assert (walk_in.participant.name, walk_in.participant.kana) == ("幸 花子", "サイワイ ハナコ")


Residence = Participant.Residence


@pytest.mark.parametrize(("age_band", "with_ward", "residence"), [
    (None, True, None),  # no answer for the age band ("" is the explicit "not given")
    ("101", True, None),
    ("80-84", False, None),  # no ward and no residence: no answer for where they live
    ("80-84", False, ""),  # "not recorded" is no answer either
    ("80-84", False, Residence.CITY),  # the city without a ward
    ("80-84", True, Residence.OUTSIDE),  # a ward and outside the city contradict each other
    ("80-84", True, Residence.DECLINED),
    ("80-84", False, "elsewhere"),
])
def test_a_walk_in_needs_an_age_band_and_where_they_live(site, age_band, with_ward, residence):
    session = started_session()
    with pytest.raises(attendance.WalkInDetailsMissing):
        attendance.add_walk_in(session=session, age_band=age_band, ward=factories.ward() if with_ward else None,
                               residence=residence)
    assert not session.registrations.exists()
    assert not Participant.objects.exists()


@pytest.mark.parametrize(("age_band", "residence", "stored"), [
    ("", Residence.OUTSIDE, ("", None, "outside")),
    ("70-74", Residence.DECLINED, ("70-74", None, "declined")),
    ("", Residence.DECLINED, ("", None, "declined")),
])
def test_a_walk_in_from_outside_the_city_or_who_gives_nothing_is_recorded_as_such(site, age_band, residence,
                                                                                  stored):
    walk_in = attendance.add_walk_in(session=started_session(), age_band=age_band, residence=residence)
    person = walk_in.participant
    assert (person.age_band, person.ward, person.residence) == stored


def test_a_walk_in_with_a_ward_lives_in_the_city(site):
    ward = factories.ward()
    for residence in (None, Residence.CITY):
        person = attendance.add_walk_in(session=started_session(), age_band="65-69", ward=ward,
                                        residence=residence).participant
        assert (person.ward, person.residence) == (ward, "city")


def test_a_walk_in_only_within_the_window(afternoon_session):
    with pytest.raises(attendance.AttendanceClosed):
        attendance.add_walk_in(session=afternoon_session, age_band="70-74", ward=factories.ward(),
                               now=datetime(2030, 6, 1, tzinfo=TOKYO))
    assert not afternoon_session.registrations.exists()
    assert not Participant.objects.exists()


def test_a_walk_in_cannot_be_undone_or_a_no_show_only_removed(site):
    walk_in = attendance.add_walk_in(session=started_session(), age_band="70-74", ward=factories.ward())
    for attended in (None, False):
        with pytest.raises(attendance.WalkInNotUndoable):
            attendance.mark_attendance(registration=walk_in, attended=attended)
    assert attendance.mark_attendance(registration=walk_in, attended=True).status == Status.ATTENDED


def test_removing_a_walk_in_deletes_it_and_its_participant(site, staff_user):
    session = started_session()
    walk_in = attendance.add_walk_in(session=session, age_band="70-74", ward=factories.ward())
    person_pk, pk = walk_in.participant_id, walk_in.pk

    attendance.remove_walk_in(registration=walk_in, actor=staff_user)

    assert not Registration.objects.filter(pk=pk).exists()
    assert not Participant.objects.filter(pk=person_pk).exists()
    entry = ModelLogEntry.objects.get(action="courses.registration.walk_in_removed", object_id=str(pk))
    assert (entry.user, entry.data["session"]) == (staff_user, session.pk)


def test_removing_a_walk_in_keeps_a_participant_with_other_registrations(site):
    session = started_session()
    walk_in = attendance.add_walk_in(session=session, age_band="70-74", ward=factories.ward())
    factories.registration(session_obj=factories.session(), participant=walk_in.participant)
    attendance.remove_walk_in(registration=walk_in)
    assert Participant.objects.filter(pk=walk_in.participant_id).exists()


def test_only_walk_ins_can_be_removed(site):
    registration = factories.registration(session_obj=started_session())
    with pytest.raises(attendance.NotAWalkIn):
        attendance.remove_walk_in(registration=registration)
    assert Registration.objects.filter(pk=registration.pk).exists()


# --- Summary ----------------------------------------------------------------------------------------------


def test_summary_counts_in_one_query(site, django_assert_num_queries):
    session = started_session(capacity=10)
    for status, count in [(Status.CONFIRMED, 3), (Status.ATTENDED, 2), (Status.NO_SHOW, 1), (Status.CANCELLED, 4)]:
        for _ in range(count):
            factories.registration(session_obj=session, status=status)
    factories.registration(session_obj=session, status=Status.WAITLISTED, waitlist_position=1)
    attendance.add_walk_in(session=session, age_band="85+", ward=factories.ward())
    factories.registration(session_obj=started_session(), status=Status.ATTENDED)  # another session

    with django_assert_num_queries(1):
        summary = attendance.attendance_summary(session)

    assert summary == {"unmarked": 3, "attended": 3, "walk_ins": 1, "no_show": 1, "waitlisted": 1, "seated": 7}


# --- Two staff at once (PostgreSQL) ---------------------------------------------------------------------

WORKER = """
import os, sys, time
from tests import clock
clock.follow_the_test_run()
import django
django.setup()
from courses import attendance
from courses.models import Registration
pk, start_at = int(sys.argv[1]), float(sys.argv[2])
registration = Registration.objects.get(pk=pk)
time.sleep(max(0.0, start_at - time.time()))
try:
    sys.stdout.write(attendance.mark_attendance(registration=registration, attended=True).status + "\\n")
except Exception as exc:
    sys.stdout.write(f"ERROR {exc!r}\\n")
"""


def slow_save(monkeypatch):
    """Widen the race window: pause between reading the registration and writing it."""
    real_save = Registration.save

    def save_then_pause(self, *args, **kwargs):
        time.sleep(0.05)
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(Registration, "save", save_then_pause)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_processes_marking_the_same_person_mark_once(site):
    """Staff on two tablets (separate processes, as separate app servers would be) mark the same person at the
    same moment: one change, one audit entry, no error."""
    registration = factories.registration(session_obj=started_session())
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "cms.settings.test"}
    start_at = time.time() + 4
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(registration.pk), str(start_at)], env=env,
                              cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE, text=True)
             for _ in range(4)]
    outputs = [p.communicate(timeout=120)[0].strip() for p in procs]

    assert outputs == ["attended"] * 4, outputs
    registration.refresh_from_db()
    assert registration.status == Status.ATTENDED
    assert logged(registration, "attended") == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_threads_marking_at_once_are_serialised_by_the_lock(site, monkeypatch):
    """With a pause between read and write, only the row lock keeps two marks from both logging a change."""
    slow_save(monkeypatch)
    registration = factories.registration(session_obj=started_session())
    barrier = threading.Barrier(2)
    errors = []

    def mark():
        try:
            barrier.wait(timeout=30)
            attendance.mark_attendance(registration=registration, attended=True)
        except BaseException as exc:  # noqa: BLE001 — every failure counts
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=mark) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert errors == []
    assert logged(registration, "attended") == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_control_without_the_row_locks_the_same_race_marks_twice(site, monkeypatch):
    """Proof that the test above tests the lock: read without locking and both threads log a change."""
    slow_save(monkeypatch)

    def unlocked(registration):
        session = Session.objects.get(pk=registration.session_id)
        return session, Registration.objects.get(pk=registration.pk)

    monkeypatch.setattr(attendance, "_lock", unlocked)
    registration = factories.registration(session_obj=started_session())
    barrier = threading.Barrier(2)

    def mark():
        try:
            barrier.wait(timeout=30)
            attendance.mark_attendance(registration=registration, attended=True)
        finally:
            connection.close()

    threads = [threading.Thread(target=mark) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert logged(registration, "attended") == 2, "without the lock both should log; if not, the race is not racing"
