"""The confirmation a person can quote: the booking reference on the page, "Add to calendar" once a seat is held,
the personal calendar's reminder the day before, nothing kept in a browser's cache from a personal link, and no word
of where notices go once a booking is cancelled."""

from datetime import timedelta

import icalendar
import pytest
from django.urls import reverse

from courses import ical, services
from courses.models import Registration
from courses.tokens import registration_token
from outreach.assessment_tokens import assessment_path
from outreach.models import SelfAssessment
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

Status = Registration.Status
BASE = "https://dekiru.example.jp"


def booking(status=Status.CONFIRMED, **session_fields) -> Registration:
    session = factories.session(**session_fields)
    person = factories.participant(email="hanako@example.jp", phone="09077778888")
    return factories.registration(session_obj=session, participant=person, status=status)


def page(client, registration, suffix="", lang="en"):
    prefix = "/en" if lang == "en" else ""
    return client.get(f"{prefix}/registrations/{registration_token(registration)}/{suffix}")


# --- The reference on the page ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [Status.CONFIRMED, Status.WAITLISTED, Status.CANCELLED])
def test_the_page_shows_the_reference_grouped_and_digit_by_digit_for_screen_readers(client, site, status):
    registration = booking(status)
    ref = registration.reference

    text = page(client, registration).content.decode()

    assert f'<span aria-hidden="true">{ref[:4]}-{ref[4:]}</span>' in text
    assert '<span class="visually-hidden">' + " ".join(ref) + " </span>" in text
    assert "Booking reference" in text
    assert "受付番号" in page(client, registration, lang="ja").content.decode()


def test_the_cancel_page_shows_the_reference(client, site):
    registration = booking()
    assert registration.reference_display in page(client, registration, "cancel/").content.decode()


# --- Where notices go: not on a cancelled booking ------------------------------------------------------------


@pytest.mark.parametrize("status", [Status.CONFIRMED, Status.WAITLISTED])
def test_an_active_booking_says_where_notices_go(client, site, status):
    text = page(client, booking(status)).content.decode()
    assert "We send the confirmation and the reminder to" in text
    assert "hanako@example.jp" in text and "090-7777-8888" in text


def test_a_cancelled_booking_does_not_say_where_notices_go(client, site):
    registration = booking()
    services.cancel_registration(registration=registration)

    for lang in ("en", "ja"):
        text = page(client, registration, lang=lang).content.decode()
        assert "hanako@example.jp" not in text and "090-7777-8888" not in text
        assert "We send the confirmation" not in text and "確認のお知らせ" not in text


def test_a_cancelled_bookings_cancel_page_offers_no_cancel_button(client, site):
    """Reached with an error (e.g. a second submit after cancelling): no recipient, no button to cancel again."""
    registration = booking()
    token = registration_token(registration)
    client.post(f"/en/registrations/{token}/cancel/")
    response = client.post(f"/en/registrations/{token}/cancel/")

    text = response.content.decode()
    if response.status_code == 400:
        assert "Yes, cancel my registration" not in text
        assert "hanako@example.jp" not in text
    else:
        assert response.status_code == 302


# --- Add to calendar: with a seat ----------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "shown"), [(Status.CONFIRMED, True), (Status.WAITLISTED, False),
                                                (Status.CANCELLED, False)])
def test_add_to_calendar_only_with_a_seat(client, site, status, shown):
    registration = booking(status)
    text = page(client, registration).content.decode()
    assert ('class="add-to-calendar"' in text) is shown
    assert (f"/registrations/{registration_token(registration)}/calendar.ics" in text) is shown


def test_after_registering_the_confirmation_offers_the_calendar(client, site):
    session = factories.session()
    result = services.register(session=session, participant=services.ParticipantDetails(
        name="川崎 花子", kana="カワサキ ハナコ", phone="09011112222", email="", age_band="75-79"),
        booker=services.BookerDetails())
    text = client.get(result.registration.get_manage_url()).content.decode()
    assert 'class="add-to-calendar"' in text and result.registration.reference_display in text


# --- Cache-Control: no-store on every personal link ----------------------------------------------------------


def test_personal_pages_are_never_stored(client, site):
    registration = booking()
    token = registration_token(registration)
    for path in (f"/registrations/{token}/", f"/en/registrations/{token}/", f"/registrations/{token}/cancel/",
                 f"/registrations/{token}/calendar.ics"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "no-store" in response["Cache-Control"], (path, response["Cache-Control"])
        assert "public" not in response["Cache-Control"]
    # A refused cancellation (400) and the answer after a cancellation are personal too.
    services.cancel_registration(registration=registration)
    response = client.post(f"/registrations/{token}/cancel/")
    assert "no-store" in response["Cache-Control"]
    assert "no-store" in client.get(f"/registrations/{token}/")["Cache-Control"]


def test_the_can_do_check_page_is_never_stored(client, site):
    registration = booking(Status.ATTENDED, starts_in=-timedelta(hours=3))
    for kind in (SelfAssessment.Kind.PRE, SelfAssessment.Kind.POST):
        response = client.get(assessment_path(registration, kind))
        assert response.status_code in (200, 410), response.status_code
        assert "no-store" in response["Cache-Control"]


def test_public_pages_and_feeds_stay_cacheable(client, site):
    session = factories.session()
    assert "no-store" not in client.get(f"/sessions/{session.pk}/calendar.ics").get("Cache-Control", "")
    assert "no-store" not in client.get("/calendar/sessions.ics").get("Cache-Control", "")


# --- The personal calendar's reminder ------------------------------------------------------------------------


def events(content: bytes):
    return icalendar.Calendar.from_ical(content).walk("VEVENT")


@pytest.mark.parametrize(("lang", "words"), [("ja", "明日"), ("en", "Tomorrow")])
def test_the_personal_calendar_reminds_the_day_before(client, site, lang, words):
    registration = booking()
    prefix = "/en" if lang == "en" else ""
    response = client.get(f"{prefix}/registrations/{registration_token(registration)}/calendar.ics")

    [event] = events(response.content)
    [alarm] = event.walk("VALARM")
    assert str(alarm["ACTION"]) == "DISPLAY"
    assert alarm.decoded("TRIGGER") == -timedelta(days=1)
    assert alarm["TRIGGER"].to_ical() == b"-P1D"
    assert alarm["TRIGGER"].params.get("RELATED", "START") == "START"
    description = str(alarm["DESCRIPTION"])
    course = registration.session.course
    assert words in description and (course.title_en if lang == "en" else course.title) in description
    start = registration.session.starts_at.astimezone(ical.TZ).strftime("%H:%M")
    assert start in description
    assert registration.reference_display in str(event["DESCRIPTION"])


@pytest.mark.parametrize("status", [Status.WAITLISTED, Status.CANCELLED])
def test_no_reminder_without_a_seat(client, site, status):
    registration = booking(status)
    response = client.get(f"/registrations/{registration_token(registration)}/calendar.ics")
    assert events(response.content)[0].walk("VALARM") == []


def test_public_calendars_carry_no_alarm(client, site):
    session = factories.session()
    factories.registration(session_obj=session)
    for path in (f"/sessions/{session.pk}/calendar.ics", "/calendar/sessions.ics",
                 f"/calendar/courses/{session.course.pk}.ics", f"/calendar/partners/{session.organiser.pk}.ics"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert b"VALARM" not in response.content, path
    event = ical.session_event(session, language="ja", base_url=BASE)
    assert event.walk("VALARM") == []


def test_the_calendar_attached_to_the_confirmation_reminds_too(site):
    from courses import emails

    registration = booking()
    attachment = emails.calendar_file(registration, language="ja")
    [event] = events(attachment.content)
    assert len(event.walk("VALARM")) == 1


def test_the_reminder_follows_the_language_of_the_file(site):
    session = factories.session()
    with_alarm = ical.session_event(session, language="en", base_url=BASE, reminder=True)
    assert "Tomorrow" in str(with_alarm.walk("VALARM")[0]["DESCRIPTION"])
    cancelled = factories.session(status="cancelled", cancellation_reason="x")
    assert ical.session_event(cancelled, language="en", base_url=BASE, reminder=True).walk("VALARM") == []


def test_reverse_of_personal_urls_is_unchanged(site):
    registration = booking()
    token = registration_token(registration)
    assert reverse("courses:registration", args=[token]) == f"/registrations/{token}/"
    assert reverse("courses:registration_ics", args=[token]) == f"/registrations/{token}/calendar.ics"
