"""The booking slip (控え): an A5 PDF in large print that the resident prints from their page and the call centre
posts to a caller: name, class, date and time (翌 after midnight), place, what to bring, the booking reference and
how to cancel by phone."""

import io
from datetime import datetime, timedelta

import pytest
from django.utils import timezone, translation
from pypdf import PdfReader

from cms.models import SiteSettings
from courses.models import Registration
from tests import factories
from tests.clock import frozen_at
from tests.courses.test_call_centre import logged_in

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def text_of(response) -> str:
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    document = PdfReader(io.BytesIO(response.content))
    width, height = (float(v) for v in document.pages[0].mediabox.upper_right)
    assert (round(width / 72 * 25.4), round(height / 72 * 25.4)) == (148, 210)  # A5 portrait
    return "\n".join(page.extract_text() for page in document.pages).replace("\u3000", " ")


@pytest.fixture
def booking(site):
    SiteSettings.objects.filter(site=site).update(phone_number="044-200-0000")
    venue = factories.venue(name="中原市民館", access="武蔵小杉駅から徒歩5分")
    session = factories.session(venue=venue, course_page=factories.course(what_to_bring="充電したスマートフォン"))
    return factories.registration(session_obj=session, participant=factories.participant(name="髙橋 花子"))


def slip_url(registration) -> str:
    with translation.override("ja"):
        return registration.get_manage_url() + "slip.pdf"


def test_the_resident_prints_their_slip(client, booking):
    page = client.get(booking.get_manage_url()).content.decode()
    assert f'href="{slip_url(booking)}"' in page
    response = client.get(slip_url(booking))
    assert "no-store" in response["Cache-Control"]
    text = text_of(response)
    for expected in (booking.session.course.title, booking.reference_display, "髙橋 花子", "中原市民館",
                     "武蔵小杉駅から徒歩5分", "充電したスマートフォン", "044-200-0000"):
        assert expected in text, expected
    assert "registrations/" not in text  # the personal link is not printed


def test_a_session_after_midnight_reads_next_day(client, site):
    with frozen_at(datetime(2026, 11, 20, 12, 0, tzinfo=timezone.get_current_timezone())):
        session = factories.session(starts_in=timedelta(days=3, hours=10), duration=timedelta(hours=2, minutes=30))
        registration = factories.registration(session_obj=session)
        assert "22:00〜翌0:30" in text_of(client.get(slip_url(registration)))


def test_the_waiting_list_says_so_and_a_cancelled_booking_offers_no_slip(client, booking):
    waiting = factories.registration(session_obj=booking.session, status=Registration.Status.WAITLISTED)
    assert "キャンセル待ち" in text_of(client.get(slip_url(waiting)))
    booking.status = Registration.Status.CANCELLED
    booking.save()
    assert "slip.pdf" not in client.get(booking.get_manage_url()).content.decode()


def test_a_wrong_token_is_a_404(client, site):
    assert client.get("/registrations/not-a-token/slip.pdf").status_code == 404


def test_the_call_centre_posts_a_slip(client, booking):
    logged_in(client, language="ja")
    page = client.get(f"/admin/call-centre/bookings/{booking.pk}/").content.decode()
    assert 'href="?format=pdf"' in page
    text = text_of(client.get(f"/admin/call-centre/bookings/{booking.pk}/", {"format": "pdf"}))
    assert booking.reference_display in text and "髙橋 花子" in text
    client.logout()
    response = client.get(f"/admin/call-centre/bookings/{booking.pk}/", {"format": "pdf"})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
