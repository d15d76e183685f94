"""schema.org Event JSON-LD on course pages (outreach.jsonld): one Event per upcoming session, read back out of the
rendered page as a search engine would."""

import json
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings
from django.utils import timezone
from django.utils.translation import override
from wagtail.images import get_image_model
from wagtail.images.tests.utils import get_test_image_file

from courses.models import Registration, Session
from outreach import jsonld
from partners.models import Ward
from tests import clock, factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]
TOKYO = ZoneInfo("Asia/Tokyo")
ISO_JST = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+09:00$")
SCRIPT = re.compile(r'<script type="application/ld\+json">(.*?)</script>', re.S)


def page_url(page, lang="ja") -> str:
    with override("ja"):
        return ("/en" if lang == "en" else "") + page.url


def events(client, page, lang="ja") -> list[dict]:
    response = client.get(page_url(page, lang))
    assert response.status_code == 200
    found = []
    for text in SCRIPT.findall(response.content.decode()):
        data = json.loads(text)
        found.extend(data if isinstance(data, list) else [data])
    return found


def by_start(found: list[dict], session: Session) -> dict:
    start = timezone.localtime(session.starts_at, TOKYO).isoformat(timespec="seconds")
    (event,) = [event for event in found if event["startDate"] == start]
    return event


@pytest.fixture
def course(site):
    partner = factories.partner(name="NPO法人つなぐ", name_en="Tsunagu NPO", website="https://tsunagu.example.jp/")
    return factories.course(owner=partner, title="はじめてのスマホ", title_en="Smartphone basics",
                            summary="電源の入れ方から学びます。", summary_en="From switching on.", fee=0)


@clock.frozen_at(datetime(2026, 12, 1, 10, 0, tzinfo=TOKYO))  # the session of 15 January 2027 is still to come
def test_a_session_at_a_venue_has_every_required_and_recommended_property(client, course):
    venue = factories.venue(name="中原市民館", ward=Ward.objects.get(name="中原区"), postal_code="211-0063",
                            address="川崎市中原区小杉町3-1100-12", latitude="35.576000", longitude="139.659000")
    session = factories.session(course_page=course, venue=venue)
    session.starts_at = datetime(2027, 1, 15, 13, 30, tzinfo=TOKYO)
    session.ends_at = session.starts_at + timedelta(minutes=90)
    session.save()
    (event,) = events(client, course)
    base = "http://testserver"
    assert event["@context"] == "https://schema.org"
    assert event["@type"] == "Event"
    assert event["name"] == "はじめてのスマホ"
    assert event["description"] == "電源の入れ方から学びます。"
    assert event["startDate"] == "2027-01-15T13:30:00+09:00"
    assert event["endDate"] == "2027-01-15T15:00:00+09:00"
    assert event["eventStatus"] == "https://schema.org/EventScheduled"
    assert event["eventAttendanceMode"] == "https://schema.org/OfflineEventAttendanceMode"
    assert event["url"] == base + page_url(course)
    assert event["location"] == {
        "@type": "Place", "name": "中原市民館",
        "address": {"@type": "PostalAddress", "streetAddress": "小杉町3-1100-12", "addressLocality": "川崎市中原区",
                    "addressRegion": "神奈川県", "postalCode": "211-0063", "addressCountry": "JP"},
        "geo": {"@type": "GeoCoordinates", "latitude": 35.576, "longitude": 139.659},
    }
    assert event["organizer"] == {"@type": "Organization", "name": "NPO法人つなぐ", "url": "https://tsunagu.example.jp/"}
    offer = event["offers"]
    assert offer["@type"] == "Offer"
    assert offer["price"] == 0
    assert offer["priceCurrency"] == "JPY"
    assert offer["availability"] == "https://schema.org/InStock"
    assert offer["url"] == f"{base}/sessions/{session.pk}/register/"
    assert ISO_JST.match(offer["validFrom"]) and ISO_JST.match(offer["validThrough"])
    assert "image" not in event  # no image in the course, and the site has no default image


def test_cancelled_session_is_included_as_cancelled(client, course):
    session = factories.session(course_page=course, status=Session.Status.CANCELLED, cancellation_reason="台風")
    event = by_start(events(client, course), session)
    assert event["eventStatus"] == "https://schema.org/EventCancelled"
    assert "offers" not in event
    assert ISO_JST.match(event["startDate"]) and ISO_JST.match(event["endDate"])


def test_online_session_is_a_virtual_location_without_the_meeting_link(client, course):
    session = factories.session(course_page=course, venue=None, online_url="https://meet.example.jp/secret-room")
    response = client.get(page_url(course))
    assert "secret-room" not in response.content.decode()
    event = by_start(events(client, course), session)
    assert event["eventAttendanceMode"] == "https://schema.org/OnlineEventAttendanceMode"
    assert event["location"] == {"@type": "VirtualLocation", "url": "http://testserver" + page_url(course)}


def test_venue_and_online_is_mixed(client, course):
    session = factories.session(course_page=course, online_url="https://meet.example.jp/x")
    event = by_start(events(client, course), session)
    assert event["eventAttendanceMode"] == "https://schema.org/MixedEventAttendanceMode"
    assert [location["@type"] for location in event["location"]] == ["Place", "VirtualLocation"]


def test_full_session_is_sold_out_and_paid_course_has_its_price(client, site):
    course = factories.course(fee=500)
    full = factories.session(course_page=course, capacity=1)
    factories.registration(session_obj=full)
    open_session = factories.session(course_page=course, starts_in=timedelta(days=9))
    found = events(client, course)
    assert by_start(found, full)["offers"]["availability"] == "https://schema.org/SoldOut"
    assert by_start(found, open_session)["offers"]["availability"] == "https://schema.org/InStock"
    assert by_start(found, open_session)["offers"]["price"] == 500


def test_not_yet_open_for_registration_is_pre_order(client, course):
    session = factories.session(course_page=course, registration_opens_at=timezone.now() + timedelta(days=2))
    event = by_start(events(client, course), session)
    assert event["offers"]["availability"] == "https://schema.org/PreOrder"
    assert event["offers"]["url"] == "http://testserver" + page_url(course)
    assert event["offers"]["validFrom"] == timezone.localtime(session.registration_opens_at, TOKYO).isoformat(
        timespec="seconds")


def test_closed_registration_is_sold_out_without_a_link_to_the_form(client, course):
    session = factories.session(course_page=course, registration_closes_at=timezone.now() - timedelta(hours=1))
    html = client.get(page_url(course)).content.decode()
    assert f"sessions/{session.pk}/register/" not in html  # as the session card: no link to a closed form
    event = by_start(events(client, course), session)
    assert event["offers"]["availability"] == "https://schema.org/SoldOut"
    assert event["offers"]["url"] == "http://testserver" + page_url(course)


def test_one_event_per_upcoming_session_and_none_for_past_ones(client, course):
    upcoming = [factories.session(course_page=course, starts_in=timedelta(days=n)) for n in (3, 10, 17)]
    factories.session(course_page=course, starts_in=timedelta(days=-2))
    found = events(client, course)
    assert len(found) == 3
    for session in upcoming:
        assert by_start(found, session)


def test_no_script_without_upcoming_sessions(client, course):
    assert events(client, course) == []


def test_english_page_has_english_names_and_links(client, course):
    session = factories.session(course_page=course)
    event = by_start(events(client, course, "en"), session)
    assert event["name"] == "Smartphone basics"
    assert event["description"] == "From switching on."
    assert event["organizer"]["name"] == "Tsunagu NPO"
    assert event["url"] == "http://testserver" + page_url(course, "en")
    assert event["offers"]["url"].startswith("http://testserver/en/")


def test_a_malicious_title_cannot_end_the_script(client, site):
    title = '</script><script>alert("x")</script> & <b>'
    course = factories.course(title=title, summary="<!-- & -->")
    factories.session(course_page=course)
    html = client.get(page_url(course)).content.decode()
    html = re.sub(r'<script src="[^"]*/js/[^"]*" defer></script>', "", html)  # the site's own script files
    assert html.count("<script") == html.count("</script>") == 1
    (text,) = SCRIPT.findall(html)
    assert "<" not in text and ">" not in text and "&" not in text
    (event,) = events(client, course)
    assert event["name"] == title
    assert event["description"] == "<!-- & -->"


def test_escaping_of_the_builder():
    markup = jsonld.script({"name": "</script>&<"})
    assert markup == '<script type="application/ld+json">{"name":"\\u003c/script\\u003e\\u0026\\u003c"}</script>'
    assert json.loads(SCRIPT.match(markup).group(1)) == {"name": "</script>&<"}


def test_street_address_drops_what_region_and_locality_say():
    municipality = jsonld.Municipality(prefecture_name="神奈川県", name="川崎市")
    assert jsonld.street_address("神奈川県川崎市中原区小杉町1-1", municipality, "中原区") == "小杉町1-1"
    assert jsonld.street_address("川崎市中原区小杉町1-1", municipality, "中原区") == "小杉町1-1"
    assert jsonld.street_address("小杉町1-1", municipality, "中原区") == "小杉町1-1"


def test_the_first_image_of_the_description_is_the_event_image(client, site, tmp_path):
    with override_settings(MEDIA_ROOT=tmp_path):
        image = get_image_model().objects.create(title="教室の様子", file=get_test_image_file(size=(1600, 900)))
        course = factories.course(body=[("paragraph", "<p>写真</p>"), ("image", image)])
        factories.session(course_page=course)
        (event,) = events(client, course)
    (url,) = event["image"]
    assert url.startswith("http://testserver/media/images/")
    assert ".fill-1200x675" in url


def test_seat_counts_need_no_extra_query_per_session(client, course, django_assert_max_num_queries):
    """The course page's query budget (tests/courses/test_public_pages.py) holds with the JSON-LD."""
    for n in range(5):
        session = factories.session(course_page=course, starts_in=timedelta(days=n + 1))
        factories.registration(session_obj=session, status=Registration.Status.CONFIRMED)
    client.get(page_url(course))
    with django_assert_max_num_queries(18):  # test_public_pages.QUERY_BUDGET
        client.get(page_url(course))
