"""The built calendars (courses.ical), parsed back with icalendar and with vobject, an independent parser."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
import vobject
from django.core.cache import cache

from courses import ical, services
from courses.models import Registration
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]
BASE = "https://dekiru.example.jp"
TOKYO = ZoneInfo("Asia/Tokyo")
TRICKY = "スマホ教室、初級, 中級; C:\\Users\\写真\n二行目：長い説明がここに続きます。" * 3


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


def _events_icalendar(data: bytes) -> list[dict]:
    calendar = icalendar.Calendar.from_ical(data)
    return [{"uid": str(e["uid"]), "summary": str(e["summary"]), "start": e.decoded("dtstart"),
             "end": e.decoded("dtend"), "status": str(e["status"]), "sequence": int(e["sequence"]),
             "description": str(e["description"]), "location": str(e["location"])}
            for e in calendar.walk("VEVENT")]


def _events_vobject(data: bytes) -> list[dict]:
    calendar = vobject.readOne(data.decode("utf-8"))
    return [{"uid": e.uid.value, "summary": e.summary.value, "start": e.dtstart.value, "end": e.dtend.value,
             "status": e.status.value, "sequence": int(e.sequence.value), "description": e.description.value,
             "location": e.location.value}
            for e in calendar.vevent_list]


def test_calendar_has_timezone_method_and_events_both_parsers_agree(site):
    sessions = [factories.session(starts_in=timedelta(days=d)) for d in (3, 5)]
    data = ical.build_calendar(sessions, name="川崎のスマホ教室", language="ja", base_url=BASE)
    calendar = icalendar.Calendar.from_ical(data)
    assert str(calendar["method"]) == "PUBLISH"
    assert [str(tz["tzid"]) for tz in calendar.walk("VTIMEZONE")] == ["Asia/Tokyo"]
    assert b"DTSTART;TZID=Asia/Tokyo:" in data and b"DTEND;TZID=Asia/Tokyo:" in data
    from_icalendar, from_vobject = _events_icalendar(data), _events_vobject(data)
    assert from_icalendar == from_vobject
    assert [e["start"] for e in from_icalendar] == [s.starts_at for s in sessions]
    assert [e["end"] for e in from_icalendar] == [s.ends_at for s in sessions]
    assert all(e["start"].utcoffset() == timedelta(hours=9) for e in from_icalendar)
    assert [e["uid"] for e in from_icalendar] == [f"session-{s.pk}@127.0.0.1" for s in sessions]
    assert {e["status"] for e in from_icalendar} == {"CONFIRMED"}


def test_event_fields(site):
    session = factories.session()
    event = ical.session_event(session, language="ja", base_url=BASE)
    assert event["sequence"] == 0
    assert event.decoded("last-modified") == session.updated_at
    assert event.decoded("dtstamp") == session.updated_at
    assert str(event["location"]) == f"{session.venue.name}, {session.venue.address}"
    assert (event["geo"].latitude, event["geo"].longitude) == (35.58, 139.66)
    assert str(event["url"]) == BASE + session.course.url
    assert session.course.summary in str(event["description"])
    assert session.course.what_to_bring in str(event["description"])


def test_no_geo_without_coordinates(site):
    session = factories.session(venue=factories.venue(latitude=None, longitude=None))
    assert "geo" not in ical.session_event(session, language="ja", base_url=BASE)


def test_summary_in_requested_language_with_japanese_fallback(site):
    session = factories.session()
    assert str(ical.session_event(session, language="en", base_url=BASE)["summary"]) == session.course.title_en
    assert str(ical.session_event(session, language="ja", base_url=BASE)["summary"]) == session.course.title
    untranslated = factories.session(course_page=factories.course(title_en=""))
    assert str(ical.session_event(untranslated, language="en", base_url=BASE)["summary"]) == \
        untranslated.course.title
    assert "/en/" in str(ical.session_event(session, language="en", base_url=BASE)["url"])


def test_escaping_and_folding_on_utf8_boundaries(site):
    course = factories.course(title=TRICKY[:200], summary=TRICKY, what_to_bring="充電器; ケーブル, メモ帳\\ペン")
    session = factories.session(course_page=course, venue=factories.venue(name="市民館, 第2; 会議室",
                                                                          address="中原区\\1-2, 3"))
    data = ical.build_calendar([session], name="名前, ; \\", language="ja", base_url=BASE)
    for line in data.split(b"\r\n"):
        assert len(line) <= 75
        line.decode("utf-8")  # every physical line is valid UTF-8: no character is split by a fold
    assert b"\\, " in data and b"\\;" in data and b"\\\\" in data and b"\\n" in data
    for events in (_events_icalendar(data), _events_vobject(data)):
        assert events[0]["summary"] == TRICKY[:200]
        assert TRICKY in events[0]["description"]
        assert "充電器; ケーブル, メモ帳\\ペン" in events[0]["description"]
        assert events[0]["location"] == "市民館, 第2; 会議室, 中原区\\1-2, 3"


def test_calendar_name_is_one_line(site):
    data = ical.build_calendar([], name="講座,\n初級; A\\B", language="ja")
    assert str(icalendar.Calendar.from_ical(data)["x-wr-calname"]) == "講座, 初級; A\\B"
    assert vobject.readOne(data.decode()).contents.get("vevent") is None  # parses, and holds no event


def test_move_session_raises_sequence_uid_stays(site):
    session = factories.session()
    before = ical.session_event(session, language="ja", base_url=BASE)
    moved = services.move_session(session=session, starts_at=session.starts_at + timedelta(days=1),
                                  ends_at=session.ends_at + timedelta(days=1))
    after = ical.session_event(moved, language="ja", base_url=BASE)
    assert after["uid"] == before["uid"]
    assert after["sequence"] == before["sequence"] + 1
    assert after.decoded("dtstart") == session.starts_at + timedelta(days=1)
    assert after.decoded("last-modified") >= before.decoded("last-modified")


def test_cancel_session_status_and_translated_prefix(site):
    session = factories.session()
    uid = str(ical.session_event(session, language="ja", base_url=BASE)["uid"])
    cancelled = services.cancel_session(session=session, reason="講師の体調不良のため")
    for language in ("ja", "en"):
        data = ical.build_calendar([cancelled], name="x", language=language, base_url=BASE)
        for events in (_events_icalendar(data), _events_vobject(data)):
            assert events[0]["status"] == "CANCELLED"
            assert events[0]["sequence"] == 1
            assert events[0]["uid"] == uid
            assert "講師の体調不良のため" in events[0]["description"]
    en = _events_icalendar(ical.build_calendar([cancelled], name="x", language="en", base_url=BASE))[0]
    assert en["summary"] == f"Cancelled: {session.course.title_en}"


def test_personal_event_has_cancel_link_and_nothing_about_anyone(site):
    session = factories.session()
    mine = factories.registration(session_obj=session)
    other = factories.registration(session_obj=session)
    cancel_url = BASE + mine.get_cancel_url()
    event = ical.session_event(session, language="ja", base_url=BASE, cancel_url=cancel_url)
    data = ical.build_calendar([event], name="x", language="ja")
    description = _events_vobject(data)[0]["description"]
    assert cancel_url in description
    for person in (mine.participant, other.participant):
        for value in (person.name, person.phone, person.kana):
            assert value.encode() not in data
    assert b"ATTENDEE" not in data and b"ORGANIZER" not in data
    assert cancel_url not in _events_vobject(ical.build_calendar([session], name="x", language="ja",
                                                                 base_url=BASE))[0]["description"]


def test_cached_fragments_equal_fresh_build_and_follow_changes(site):
    sessions = [factories.session(starts_in=timedelta(days=d)) for d in (2, 4)]
    fresh = ical.build_calendar(sessions, name="x", language="ja", base_url=BASE)
    cold = ical.assemble_calendar(ical.event_fragments(sessions, language="ja", base_url=BASE), name="x")
    warm = ical.assemble_calendar(ical.event_fragments(sessions, language="ja", base_url=BASE), name="x")
    assert fresh == cold == warm
    # The venue has no change timestamp: its shown fields are part of the key.
    venue = sessions[0].venue
    venue.name = "新しい会場"
    venue.save()
    sessions[0].refresh_from_db()
    changed = ical.event_fragments(sessions, language="ja", base_url=BASE)
    assert "新しい会場" in changed[0].decode()
    # The course: a new publication changes the key.
    course = sessions[1].course
    course.title_en = "Renamed"
    course.save_revision().publish()
    sessions[1].course.refresh_from_db()
    sessions[1].refresh_from_db()
    assert b"Renamed" in ical.event_fragments(sessions, language="en", base_url=BASE)[1]
    cancelled = services.cancel_session(session=sessions[1], reason="台風")
    assert b"STATUS:CANCELLED" in ical.event_fragments([cancelled], language="ja", base_url=BASE)[0]


def test_registration_model_unchanged_by_calendar(site):
    """Building a calendar writes nothing."""
    session = factories.session()
    factories.registration(session_obj=session)
    ical.build_calendar([session], name="x", language="ja", base_url=BASE)
    assert Registration.objects.get().status == Registration.Status.CONFIRMED
