"""Check-in by code (courses.checkin): the signed code, what a scan or a typed reference does at the door and why
it refuses (another session, cancelled, waiting list, another partner, unknown or altered code), that scanning twice
is harmless, the typed fallback on the roster without JavaScript, the JSON answer the scan panel reads, the query
budget of a check-in, the QR on the resident's page and on the slip, and the slip printed from the roster."""

import io
import re
from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from PIL import Image
from pypdf import PdfReader
from wagtail.models import ModelLogEntry

from cms import roles
from courses import checkin
from courses.models import Registration
from courses.tokens import registration_token
from tests import factories
from tests.courses.test_roster_admin import message_texts, staff, started

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

Status = Registration.Status
Kind = checkin.Kind


def url(name, *args):
    return reverse(f"roster:{name}", args=args)


def attended_entries(registration) -> int:
    return ModelLogEntry.objects.filter(object_id=str(registration.pk),
                                        action="courses.registration.attended").count()


@pytest.fixture(autouse=True)
def english():
    """The messages in English: the admin speaks the user's language, and these users prefer English."""
    with translation.override("en"):
        yield


@pytest.fixture
def door(site):
    """Partner A's session that started today with 春子 booked, her booking for another of A's sessions, partner B's
    session with 四郎 booked, and an instructor of A."""
    a, b = factories.partner(), factories.partner()
    session = started(a, capacity=5)
    later = factories.session(course_page=session.course, organiser=a, starts_in=timedelta(days=7))
    haruko = factories.participant(name="中原 春子", kana="ナカハラ ハルコ")
    booked = factories.registration(session_obj=session, participant=haruko)
    other_b = factories.registration(session_obj=started(b), participant=factories.participant(name="麻生 四郎"))
    return {"a": a, "b": b, "session": session, "later": later, "booked": booked, "other_b": other_b,
            "user": staff(roles.PARTNER_INSTRUCTOR, a)}


# --- The code ----------------------------------------------------------------------------------------------------


def test_the_code_is_signed_compact_and_stable(door):
    booked = door["booked"]
    code = checkin.make_code(booked)
    assert re.fullmatch(r"DK1\.\d{8}\.[A-Z2-7]{16}", code)
    assert booked.reference in code and str(booked.pk) not in code.split(".")[2]
    assert checkin.make_code(booked) == code  # no expiry, no clock
    assert checkin.registration_for_code(code) == booked
    assert checkin.registration_for_code(code.lower()) == booked  # a scanner that lower-cases still works
    assert checkin.qr(booked).mode == "alphanumeric"


def test_an_altered_or_made_up_code_is_refused(door):
    booked, other = door["booked"], door["other_b"]
    code = checkin.make_code(booked)
    tampered = [code[:-1] + ("A" if code[-1] != "A" else "B"),  # the signature
                code.replace(booked.reference, other.reference),  # someone else's reference, this signature
                f"DK1.{booked.reference}.{checkin.make_code(other)[-16:]}",
                code[4:], "DK2" + code[3:], code + "A", "", "https://example.com/"]
    for text in tampered:
        assert checkin.registration_for_code(text) is None, text
        outcome = checkin.check_in(text, door["session"], door["user"])
        assert outcome.kind in (Kind.UNKNOWN,), text
        assert not outcome.ok and outcome.message
    booked.refresh_from_db()
    assert booked.status == Status.CONFIRMED


def test_rotating_the_link_key_revokes_the_code(door):
    booked = door["booked"]
    code = checkin.make_code(booked)
    booked.token_key = "rotated"
    booked.save()
    assert checkin.check_in(code, door["session"], door["user"]).kind == Kind.UNKNOWN


def test_qr_png_is_a_png_for_an_email(door):
    image = Image.open(io.BytesIO(checkin.qr_png(door["booked"])))
    assert image.format == "PNG" and image.size[0] == image.size[1] >= 250


# --- At the door ------------------------------------------------------------------------------------------------


def test_a_scan_marks_the_person_attended_with_an_audit_entry(door):
    booked, session, user = door["booked"], door["session"], door["user"]
    outcome = checkin.check_in(checkin.make_code(booked), session, user)
    assert outcome.kind == Kind.MARKED and outcome.ok
    assert "中原 春子" in outcome.message and session.course.display_title() in outcome.message
    booked.refresh_from_db()
    assert booked.status == Status.ATTENDED
    entry = ModelLogEntry.objects.get(object_id=str(booked.pk), action="courses.registration.attended")
    assert entry.user == user and entry.data["session"] == session.pk


def test_scanning_twice_is_harmless_and_says_when(door):
    booked, session, user = door["booked"], door["session"], door["user"]
    checkin.check_in(checkin.make_code(booked), session, user)
    again = checkin.check_in(checkin.make_code(booked), session, user)
    assert again.kind == Kind.ALREADY and again.ok
    assert "already checked in" in again.message and again.marked_at is not None
    assert f"{timezone.localtime(again.marked_at):%Y-%m-%d %H:%M}" in again.message
    assert attended_entries(booked) == 1


@pytest.mark.parametrize("typed", ["{ref}", "{ref4}-{ref_4}", "{ref4} {ref_4}", "{wide}"])
def test_a_typed_reference_checks_in_as_typed(door, typed):
    booked = door["booked"]
    ref = booked.reference
    wide = "".join(chr(ord(c) + 0xFEE0) for c in ref[:4]) + "－" + "".join(chr(ord(c) + 0xFEE0) for c in ref[4:])
    text = typed.format(ref=ref, ref4=ref[:4], ref_4=ref[4:], wide=wide)
    assert checkin.check_in(text, door["session"], door["user"]).kind == Kind.MARKED


def test_a_mistyped_or_unknown_reference_says_so(door):
    ref = door["booked"].reference
    wrong_digit = ref[:7] + str((int(ref[7]) + 1) % 10)
    outcome = checkin.check_in(wrong_digit, door["session"], door["user"])
    assert outcome.kind == Kind.UNKNOWN and "check the digits" in outcome.message
    assert "8-digit" in checkin.check_in("12", door["session"], door["user"]).message
    from courses.references import damm_check_digit  # noqa: PLC0415 - a valid reference nobody holds

    free = next(b + damm_check_digit(b) for b in map(str, range(1000000, 9999999))
                if not Registration.objects.filter(reference=b + damm_check_digit(b)).exists())
    assert "No booking has the reference" in checkin.check_in(free, door["session"], door["user"]).message


def test_a_booking_for_another_session_says_which_and_changes_nothing(door):
    elsewhere = factories.registration(session_obj=door["later"],
                                       participant=factories.participant(name="高津 次郎"))
    outcome = checkin.check_in(checkin.make_code(elsewhere), door["session"], door["user"])
    assert outcome.kind == Kind.OTHER_SESSION and not outcome.ok
    assert "高津 次郎" in outcome.message and checkin.session_label(door["later"]) in outcome.message
    elsewhere.refresh_from_db()
    assert elsewhere.status == Status.CONFIRMED


def test_the_same_persons_code_for_another_date_uses_their_booking_here(door):
    booked = door["booked"]
    their_other = factories.registration(session_obj=door["later"], participant=booked.participant)
    outcome = checkin.check_in(checkin.make_code(their_other), door["session"], door["user"])
    assert outcome.kind == Kind.MARKED and outcome.registration.pk == booked.pk
    assert "code was for another session" in outcome.message
    booked.refresh_from_db()
    their_other.refresh_from_db()
    assert (booked.status, their_other.status) == (Status.ATTENDED, Status.CONFIRMED)


def test_a_cancelled_booking_is_not_checked_in(door):
    booked = door["booked"]
    booked.status = Status.CANCELLED
    booked.save()
    outcome = checkin.check_in(checkin.make_code(booked), door["session"], door["user"])
    assert outcome.kind == Kind.CANCELLED and "cancelled" in outcome.message and "walk-in" in outcome.message
    booked.refresh_from_db()
    assert booked.status == Status.CANCELLED


def test_the_waiting_list_is_not_checked_in_by_code(door):
    waiting = factories.registration(session_obj=door["session"], status=Status.WAITLISTED, waitlist_position=1,
                                     participant=factories.participant(name="多摩 次郎"))
    outcome = checkin.check_in(waiting.reference, door["session"], door["user"])
    assert outcome.kind == Kind.WAITLISTED and "waiting list (no. 1)" in outcome.message
    waiting.refresh_from_db()
    assert waiting.status == Status.WAITLISTED


def test_a_no_show_who_comes_after_all_is_marked_attended(door):
    booked = door["booked"]
    booked.status = Status.NO_SHOW
    booked.save()
    assert checkin.check_in(booked.reference, door["session"], door["user"]).kind == Kind.MARKED
    booked.refresh_from_db()
    assert booked.status == Status.ATTENDED


def test_another_partners_booking_is_refused_without_a_word_about_it(door):
    other = door["other_b"]
    for text in (checkin.make_code(other), other.reference):
        outcome = checkin.check_in(text, door["session"], door["user"])
        assert outcome.kind == Kind.OTHER_PARTNER
        assert "麻生" not in outcome.message and other.session.course.display_title() not in outcome.message
    other.refresh_from_db()
    assert other.status == Status.CONFIRMED


def test_outside_the_attendance_window_nothing_is_marked(door):
    booking = factories.registration(session_obj=door["later"])
    outcome = checkin.check_in(booking.reference, door["later"], door["user"])
    assert outcome.kind == Kind.REFUSED and "14 days" in outcome.message
    booking.refresh_from_db()
    assert booking.status == Status.CONFIRMED


def test_names_are_masked_for_users_who_may_not_see_them(door):
    outcome = checkin.check_in(door["booked"].reference, door["session"], staff(roles.CITY_ANALYST))
    assert "中原" not in outcome.message and f"no. {door['booked'].pk}" in outcome.message


# --- The roster: typed fallback without JavaScript, JSON for the scan panel --------------------------------------


def test_the_roster_offers_the_scan_panel_and_the_typed_form(client, door):
    client.force_login(door["user"])
    content = client.get(url("session", door["session"].pk)).content.decode()
    assert f'action="{url("check_in", door["session"].pk)}"' in content and 'name="code"' in content
    assert "js/checkin-scan.js" in content and "js/vendor/jsqr/jsQR.js" in content
    assert "<script>" not in content.split('id="roster"')[1].split("</main>")[0]  # no inline script of ours
    assert url("slip", door["session"].pk, door["booked"].pk) in content


def test_the_typed_reference_without_javascript_marks_and_answers_on_the_roster(client, door):
    booked, session = door["booked"], door["session"]
    client.force_login(door["user"])
    response = client.post(url("check_in", session.pk), {"code": booked.reference_display})
    assert response.status_code == 302 and response["Location"] == f"{url('session', session.pk)}#person-{booked.pk}"
    assert any("中原 春子: checked in" in m for m in message_texts(response))
    booked.refresh_from_db()
    assert booked.status == Status.ATTENDED
    page = client.get(response["Location"]).content.decode()
    assert "already" not in page
    again = client.post(url("check_in", session.pk), {"code": booked.reference}, follow=True)
    assert "already checked in" in again.content.decode()
    refused = client.post(url("check_in", session.pk), {"code": "1234"}, follow=True)
    assert refused.status_code == 200 and "8-digit" in refused.content.decode()


def test_the_scan_panel_gets_json(client, door):
    booked, session = door["booked"], door["session"]
    client.force_login(door["user"])
    answer = client.post(url("check_in", session.pk), {"code": checkin.make_code(booked)},
                         headers={"accept": "application/json"}).json()
    assert answer["ok"] and answer["kind"] == "marked" and answer["registration"] == booked.pk
    assert answer["status"] == "attended" and answer["summary"]["attended"] == 1
    other = client.post(url("check_in", session.pk), {"code": checkin.make_code(door["other_b"])},
                        headers={"accept": "application/json"}).json()
    assert other == {"ok": False, "kind": "other_partner", "message": other["message"], "registration": None,
                     "status": None, "status_label": None, "summary": None}


def test_check_in_needs_the_change_permission_and_the_partners_session(client, door):
    client.force_login(staff(roles.CITY_ANALYST))
    assert client.post(url("check_in", door["session"].pk), {"code": door["booked"].reference}).status_code == 403
    client.force_login(staff(roles.PARTNER_INSTRUCTOR, door["b"], username="b-instructor"))
    assert client.post(url("check_in", door["session"].pk), {"code": door["booked"].reference}).status_code == 404
    door["booked"].refresh_from_db()
    assert door["booked"].status == Status.CONFIRMED


def test_the_check_in_post_query_budget(client, door):
    """Pinned: one scan is a fixed number of queries (session, rights, the booking, the locks, the update, the
    audit entry, the counts for the screen)."""
    client.force_login(door["user"])
    session = door["session"]
    client.get(url("session", session.pk))
    ContentType.objects.get_for_model(Registration)  # warm the content-type cache as a running server has
    with CaptureQueriesContext(connection) as marked:
        answer = client.post(url("check_in", session.pk), {"code": checkin.make_code(door["booked"])},
                             headers={"accept": "application/json"}).json()
    assert answer["kind"] == "marked"
    with CaptureQueriesContext(connection) as again:
        assert client.post(url("check_in", session.pk), {"code": checkin.make_code(door["booked"])},
                           headers={"accept": "application/json"}).json()["kind"] == "already_marked"
    assert (len(marked), len(again)) == MARK_QUERIES, "\n".join(q["sql"][:150] for q in marked.captured_queries)


# Marked: the signed-in user's session, user, permissions (2), profile, groups, partner scope; the session, the
# booking; the locks of session and booking, the update, the audit entry (one INSERT, cms.audit); the counts
# (+ savepoint pair). Already marked: the same lookups and the time of the mark, no lock and no write.
MARK_QUERIES = (16, 10)


# --- The QR on the resident's page and the slip, and the slip from the roster ------------------------------------


def test_the_confirmation_page_shows_the_qr_only_while_the_booking_can_come(client, door):
    booked = door["booked"]
    page = client.get(f"/en/registrations/{registration_token(booked)}/").content.decode()
    assert checkin.qr_svg_data_uri(booked).replace("&", "&amp;")[:200] in page.replace("&#x27;", "'")
    assert f"Check-in code (QR) for booking {booked.reference_display}" in page
    booked.status = Status.CANCELLED
    booked.save()
    assert "Check-in code" not in client.get(f"/en/registrations/{registration_token(booked)}/").content.decode()


def test_the_slip_carries_the_qr(door):
    booked = door["booked"]
    html = render_to_string("courses/slip.html", {"registration": booked, "session": booked.session,
                                                  "course": booked.session.course})
    assert 'class="slip-qr"' in html and "data:image/svg+xml" in html


def test_staff_print_a_bookings_slip_from_the_roster(client, door):
    booked, session = door["booked"], door["session"]
    slip = url("slip", session.pk, booked.pk)
    client.force_login(door["user"])
    response = client.get(slip)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    assert booked.reference_display in text and "中原" in text
    client.force_login(staff(roles.PARTNER_INSTRUCTOR, door["b"], username="b-instructor"))
    assert client.get(slip).status_code == 404
    assert client.get(url("slip", door["other_b"].session_id, door["other_b"].pk)).status_code == 200
    assert client.get(url("slip", door["other_b"].session_id, booked.pk)).status_code == 404
    client.force_login(staff(roles.CITY_ANALYST))
    assert client.get(slip).status_code == 403
