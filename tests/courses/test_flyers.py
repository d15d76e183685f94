"""Flyers (チラシ): an A4 poster in large print for a ward office or community centre, for one course (its next dates)
or for a ward and a month (every class in the ward's venues that month, by course): the dates and times (翌 after
midnight), the place, the seats left or 満席（キャンセル待ち受付中）, the phone number, a QR code to the page, tear-off
strips; Japanese with an English line; public, with no personal data. Read back out of the real PDF (cms.pdf)."""

import io
import re
import time
from datetime import date, datetime, timedelta

import pytest
import segno
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pypdf import PdfReader

from cms.models import SiteSettings
from cms.sending import absolute
from courses import flyers
from courses.models import Registration, Session
from partners.models import Ward
from tests import factories
from tests.clock import frozen_at

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

PHONE = "044-200-0000"
# A Friday noon; the course's dates follow from it.
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.get_current_timezone())


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()  # the PDFs are cached under their HTML's hash: each test renders its own
    yield
    cache.clear()


@pytest.fixture
def clock():
    with frozen_at(NOW):
        yield


def read(response) -> PdfReader:
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"] == "application/pdf"
    document = PdfReader(io.BytesIO(response.content))
    width, height = (float(v) for v in document.pages[0].mediabox.upper_right)
    assert (round(width / 72 * 25.4), round(height / 72 * 25.4)) == (210, 297)  # A4 portrait, in mm
    fonts = {str(font["/BaseFont"]) for page in document.pages for font in page["/Resources"]["/Font"].values()}
    assert fonts and all("Dekiru-PDF" in name for name in fonts), fonts  # the bundled font: no missing glyph
    return document


def text_of(document: PdfReader) -> str:
    return "\n".join(page.extract_text() for page in document.pages).replace("\u3000", " ")


def links_of(document: PdfReader) -> list[str]:
    return [str(annotation.get_object()["/A"]["/URI"]) for page in document.pages
            for annotation in page.get("/Annots", []) if "/URI" in annotation.get_object().get("/A", {})]


@pytest.fixture
def course(site, clock):
    """A course with ten dates ahead (one after midnight, one full), one cancelled and one past."""
    SiteSettings.objects.filter(site=site).update(phone_number=PHONE, phone_hours="平日9時〜17時")
    page = factories.course(title="はじめてのスマホ講座", title_en="Smartphone for beginners")
    venue = factories.venue(name="中原市民館")
    organiser = factories.partner()
    sessions = [factories.session(course_page=page, organiser=organiser, venue=venue,
                                  starts_in=timedelta(days=day, hours=2), capacity=10) for day in range(1, 11)]
    late = sessions[1]  # Sunday 22:00 until 0:30 the next day
    late.starts_at = NOW + timedelta(days=2, hours=10)
    late.ends_at = late.starts_at + timedelta(hours=2, minutes=30)
    late.save()
    full = sessions[2]
    full.capacity = 2
    full.save()
    for _ in range(2):
        factories.registration(session_obj=full, participant=factories.participant(name="髙橋 花子"))
    factories.registration(session_obj=full, status=Registration.Status.WAITLISTED)
    factories.registration(session_obj=sessions[0], participant=factories.participant(name="川崎 太郎"))
    factories.session(course_page=page, organiser=organiser, venue=venue, starts_in=timedelta(hours=3),
                      status=Session.Status.CANCELLED, cancellation_reason="講師の体調不良")
    factories.session(course_page=page, organiser=organiser, venue=venue, starts_in=timedelta(days=-1))
    return page


def test_a_course_flyer_shows_its_next_dates_seats_phone_and_an_english_line(client, course):
    started = time.perf_counter()
    response = client.get(f"/classes/{course.pk}/flyer.pdf")
    elapsed = time.perf_counter() - started
    document = read(response)
    assert len(document.pages) == 1
    assert response["Content-Disposition"] == f'inline; filename="flyer-course-{course.pk}.pdf"'
    text = text_of(document)
    flat = re.sub(r"\s", "", text)
    for expected in ("はじめてのスマホ講座", "参加無料", "日付", "時間", "会場", "中原市民館", "残り10席", "残り9席",
                     "満席（キャンセル待ち受付中）", "22:00〜翌0:30", "お電話でのお申し込み", "受付時間：平日9時〜17時",
                     "ほかに2回の日程があります"):
        assert expected in flat, expected
    assert "Smartphone for beginners: book by phone or with the QR code." in " ".join(text.split())
    assert "11月21日（土）14:00〜16:00" in flat  # the first date ahead
    assert "11月30日" not in flat and "12月1日" not in flat  # the ninth and tenth dates: counted, not listed
    assert "講師の体調不良" not in text and "11月19日" not in flat  # no cancelled or past date
    assert "髙橋" not in text and "川崎 太郎" not in text  # no personal data
    # The phone number on the booking box and on each of the nine tear-off strips, which read down the strip.
    assert text.count(PHONE) == 1 + flyers.STRIPS
    course_url = absolute(course.url)
    assert set(links_of(document)) == {course_url}  # the QR code is a link to the course page as well
    assert flat.count(flyers.short_form(absolute(f"/classes/{course.pk}/"))) == 1 + flyers.STRIPS
    cache.clear()  # made again, now that WeasyPrint and the font are loaded
    started = time.perf_counter()
    assert client.get(f"/classes/{course.pk}/flyer.pdf").content.startswith(b"%PDF-")
    again = time.perf_counter() - started
    print(f"course flyer PDF: {elapsed * 1000:.0f} ms first, {again * 1000:.0f} ms again")  # noqa: T201 — the figure for the closing note
    assert elapsed < 30  # a generous bound, not a benchmark


def matrix_of(svg: str) -> list[list[bool]]:
    """The modules an inline SVG of segno draws (a path of horizontal runs: M x y, h n, m dx dy)."""
    size = int(re.search(r'viewBox="0 0 (\d+) \d+"', svg).group(1))
    rows = [[False] * size for _ in range(size)]
    x = y = 0.0
    for command, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", re.search(r' d="([^"]+)"', svg).group(1)):
        if command == "M":
            x, y = float(a), float(b)
        elif command == "m":
            x, y = x + float(a), y + float(b)
        else:
            for column in range(int(x), int(x + float(a))):
                rows[int(y)][column] = True
            x += float(a)
    return rows


def test_the_qr_code_encodes_the_course_page_address(course, rf):
    """No QR decoder is installed: the modules the flyer draws are read back from its SVG and compared with
    the symbol of the course page's address (any error-correction level the encoder may choose)."""
    flyer = flyers.course_flyer(course, now=NOW)
    assert flyer.url == absolute(course.url) and flyer.url.startswith("http")
    drawn = matrix_of(flyer.qr)
    symbols = [segno.make(flyer.url, error=level, boost_error=False) for level in "LMQH"]
    assert any(drawn == [[bool(module) for module in row] for row in symbol.matrix_iter(border=4)]
               for symbol in symbols)
    assert drawn != matrix_of(flyers.qr_svg(flyer.url + "x"))  # the comparison tells addresses apart


def test_the_course_page_links_its_flyer_and_the_short_address_leads_to_it(client, course):
    page = client.get(course.url).content.decode()
    assert f'href="/classes/{course.pk}/flyer.pdf"' in page and "チラシを印刷（PDF）" in page
    response = client.get(f"/classes/{course.pk}/")
    assert response.status_code == 302 and response["Location"] == course.url


def test_a_course_without_dates_still_has_a_flyer(client, site, clock):
    course = factories.course()
    text = text_of(read(client.get(f"/classes/{course.pk}/flyer.pdf")))
    assert "現在、予定している日程はありません" in text


@pytest.fixture
def ward_month(site, clock):
    """December 2026 in 中原区: two courses at two venues; a class in another ward, one online, one in January."""
    SiteSettings.objects.filter(site=site).update(phone_number=PHONE)
    nakahara, saiwai = Ward.objects.get(code="141330"), Ward.objects.get(code="141321")
    hall, centre, elsewhere = (factories.venue(name="中原市民館", ward=nakahara),
                               factories.venue(name="小杉こども文化センター", ward=nakahara),
                               factories.venue(name="幸市民館", ward=saiwai))
    line, scams = factories.course(title="LINEを使ってみよう"), factories.course(title="詐欺にあわないために", fee=500)

    def on(day: int, hour: int, month: int = 12, **fields) -> Session:
        starts = datetime(2027 if month == 1 else 2026, month, day, hour, tzinfo=NOW.tzinfo)
        return factories.session(starts_in=starts - NOW, **fields)

    on(3, 14, course_page=line, venue=hall)
    on(10, 10, course_page=scams, venue=centre, capacity=1)
    on(17, 14, course_page=line, venue=centre)
    factories.registration(session_obj=on(24, 14, course_page=scams, venue=hall, capacity=1))
    on(5, 14, course_page=line, venue=elsewhere)
    on(6, 14, course_page=line, venue=None, online_url="https://meet.example/x")
    on(31, 23, course_page=line, venue=hall, duration=timedelta(hours=3))  # starts in December, ends in January
    on(1, 14, month=1, course_page=scams, venue=hall)  # 1 January 2027
    return nakahara


def test_a_ward_flyer_lists_the_months_classes_by_course(client, ward_month):
    started = time.perf_counter()
    response = client.get("/flyers/141330/2026-12.pdf")
    elapsed = time.perf_counter() - started
    document = read(response)
    assert len(document.pages) == 1
    assert response["Content-Disposition"] == 'inline; filename="flyer-141330-2026-12.pdf"'
    text = text_of(document)
    flat = re.sub(r"\s", "", text)
    for expected in ("2026年12月", "中原区のスマホ教室", "LINEを使ってみよう", "詐欺にあわないために",
                     "参加費500円", "中原市民館", "小杉こども文化センター", "残り1席", "満席（キャンセル待ち受付中）",
                     "23:00〜翌2:00"):
        assert expected in flat, expected
    english = "Smartphone classes in Nakahara-ku, December 2026: book by phone or with the QR code."
    assert english in " ".join(text.split())
    assert "幸市民館" not in text and "オンライン" not in text and "2027年1月1日" not in flat
    # By course, in the order of each course's first date: LINE (3rd, 17th, 31st), then scams (10th, 24th).
    order = [flat.index(s) for s in ("LINEを使ってみよう", "12月3日", "12月17日", "12月31日", "詐欺にあわないために",
                                     "12月10日", "12月24日")]
    assert order == sorted(order)
    assert text.count(PHONE) == 1 + flyers.STRIPS
    listing = links_of(document)
    assert set(listing) == {absolute(f"/classes/?ward={ward_month.pk}&date_from=2026-12-01&date_to=2026-12-31")}
    print(f"ward flyer PDF: {elapsed * 1000:.0f} ms")  # noqa: T201 — the figure for the closing note


def test_a_month_without_classes_still_has_a_flyer_that_says_so(client, ward_month):
    text = text_of(read(client.get("/flyers/141330/2027-03.pdf")))
    assert "2027年3月の中原区の講座は、まだありません" in re.sub(r"\s", "", text)


def test_the_ward_flyer_keeps_to_one_page_and_counts_what_it_leaves_off(client, ward_month):
    course = factories.course(title="マイナンバーカード講座")
    for day in range(1, 27):
        factories.session(course_page=course, venue=ward_month.venues.first(),
                          starts_in=datetime(2026, 12, day, 10, tzinfo=NOW.tzinfo) - NOW)
    document = read(client.get("/flyers/141330/2026-12.pdf"))
    assert len(document.pages) == 1
    # Twelve lines, in date order: マイナンバー 1st–9th (heading + 9), LINE on the 3rd (heading + 1); 詐欺 at 10:00
    # on the 10th would take lines 13 and 14. Listed 10 of 5 + 26 dates: 21 more.
    text = re.sub(r"\s", "", text_of(document))
    assert "12月9日" in text and "12月10日" not in text
    assert "ほかに21回の日程があります" in text


@pytest.mark.parametrize("address", [
    "/flyers/999999/2026-12.pdf", "/flyers/141330/2026-13.pdf", "/flyers/141330/2026-00.pdf",
    "/flyers/141330/2026-1.pdf", "/flyers/141330/２０２６-１２.pdf", "/flyers/141330/12-2026.pdf",
    "/flyers/141330/0000-01.pdf", "/flyers/141330/9999-12.pdf", "/flyers/141330/2026-12.x.pdf",
    "/classes/99999/flyer.pdf", "/classes/99999999999999/flyer.pdf", "/classes/99999999999999/",
])
def test_a_bad_ward_month_or_course_is_a_translated_404(client, site, address):
    response = client.get(address)
    assert response.status_code == 404 and "ページが見つかりません" in response.content.decode()
    response = client.get(f"/en{address}")
    assert response.status_code == 404 and "Page not found" in response.content.decode()


def test_a_draft_course_has_no_flyer(client, site):
    course = factories.course()
    course.unpublish()
    assert client.get(f"/classes/{course.pk}/flyer.pdf").status_code == 404


def test_a_flyer_is_cached_and_made_again_when_the_seats_change(client, course, monkeypatch):
    first = client.get(f"/classes/{course.pk}/flyer.pdf")
    assert first["Cache-Control"] == "public, max-age=300" and first["ETag"]
    assert client.get(f"/classes/{course.pk}/flyer.pdf", headers={"if-none-match": first["ETag"]}).status_code == 304

    rendered = []
    monkeypatch.setattr("cms.pdf.render", lambda html: rendered.append(html) or b"%PDF-made again")
    again = client.get(f"/classes/{course.pk}/flyer.pdf")
    assert again.content == first.content and rendered == []  # the same flyer, from the cache
    factories.registration(session_obj=course.sessions.order_by("starts_at")[2])
    changed = client.get(f"/classes/{course.pk}/flyer.pdf")
    assert changed["ETag"] != first["ETag"] and changed.content == b"%PDF-made again" and len(rendered) == 1


def test_query_counts(client, course, ward_month):
    """Pinned. A course's flyer: the page and its view restrictions (live and public), the restrictions again for
    the sessions' public check, the next dates with seat counts, the count of the rest, the site, its root paths
    (from the cache) and settings, the PDF from the cache: 9 once the PDF is cached. Made afresh (cache emptied):
    the sites again for the root paths, which are written to the database cache as the PDF is (a count, a
    savepoint, a read, an insert and a release each): 20. A ward's month: the ward, the restrictions, the month's
    dates, the site and its settings, the PDF's cache read and write (nothing left off: no count): 11."""
    client.get(f"/classes/{course.pk}/flyer.pdf")  # Wagtail's site root paths, read once per process
    cache.clear()
    counts = []
    for address in (f"/classes/{course.pk}/flyer.pdf", f"/classes/{course.pk}/flyer.pdf",
                    "/flyers/141330/2026-12.pdf"):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(address).status_code == 200
        counts.append(len(queries))
    assert counts == [20, 9, 11]


def test_month_bounds_follow_the_city_time_zone():
    start, end = flyers.month_bounds(date(2026, 12, 1))
    assert (start.isoformat(), end.isoformat()) == ("2026-12-01T00:00:00+09:00", "2027-01-01T00:00:00+09:00")


def test_the_index_links_each_wards_flyers_for_three_months(client, site, clock):
    page = client.get("/flyers/").content.decode()
    assert "印刷用チラシ" in page
    for ward in Ward.objects.all():
        for month in ("2026-11", "2026-12", "2027-01"):
            assert f'href="/flyers/{ward.code}/{month}.pdf"' in page
    assert "2027-02" not in page
