"""Open data over HTTP: the event list in the national recommended format (CSV and JSON), the participation
statistics with small cells suppressed, and the index page."""

import csv
import io
import json
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from wagtail.models import PageViewRestriction

from cms.models import SiteSettings
from courses.models import Participant, Registration, Session
from outreach import metrics, opendata
from outreach.models import PopulationFigure
from partners.models import Ward
from tests import clock, factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]
TOKYO = ZoneInfo("Asia/Tokyo")
# The event list has upcoming sessions only: the tests with sessions on fixed dates in early 2027 set the clock
# before them.
BEFORE_2027 = clock.frozen_at(datetime(2026, 12, 1, 10, 0, tzinfo=TOKYO))

# Copied from PRODUCT.md ("Open data: the event list"), in its order; * marks the required columns there.
NATIONAL_COLUMNS = [
    "都道府県コード又は市区町村コード", "NO", "都道府県名", "市区町村名", "イベント名", "イベント名_カナ",
    "イベント名_英語", "開始日", "終了日", "開始時間", "終了時間", "開始日時特記事項",
    "説明", "料金(基本)", "料金(詳細)", "連絡先名称", "連絡先電話番号", "連絡先内線番号",
    "主催者", "場所名称", "住所", "方書", "緯度", "経度",
    "アクセス方法", "駐車場情報", "定員", "参加申込終了日", "参加申込終了時間", "参加申込方法",
    "URL", "備考",
]
REQUIRED = ["都道府県コード又は市区町村コード", "NO", "イベント名", "イベント名_カナ", "開始日", "終了日", "開始時間",
            "終了時間", "説明", "場所名称", "住所"]
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

EVENTS_CSV = "/opendata/events.csv"
EVENTS_JSON = "/opendata/events.json"


def body(response) -> bytes:
    assert response.streaming
    return b"".join(response.streaming_content)


def read_csv(response) -> list[dict]:
    text = body(response).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == NATIONAL_COLUMNS
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def at(year, month, day, hour=10, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TOKYO)


def session_at(starts_at: datetime, *, duration=timedelta(hours=2), **fields) -> Session:
    session = factories.session(**fields)
    Session.objects.filter(pk=session.pk).update(starts_at=starts_at, ends_at=starts_at + duration)
    session.refresh_from_db()
    return session


# --- The event list ---------------------------------------------------------------------------------------------


def test_urls_and_names():
    assert reverse("outreach:events_csv") == EVENTS_CSV
    assert reverse("outreach:events_json") == EVENTS_JSON
    assert reverse("outreach:opendata") == "/opendata/"
    assert reverse("outreach:participation_csv", args=[2025]) == "/opendata/participation-FY2025.csv"
    with translation.override("en"):
        assert reverse("outreach:events_csv") == "/en/opendata/events.csv"


def test_columns_are_the_national_list_in_order():
    assert opendata.EVENT_COLUMNS == NATIONAL_COLUMNS
    assert len(NATIONAL_COLUMNS) == 32
    assert opendata.REQUIRED_EVENT_COLUMNS == REQUIRED


def test_csv_headers_encoding_and_line_ends(client, site):
    factories.session()
    response = client.get(EVENTS_CSV)
    assert response.status_code == 200
    assert response.streaming is True
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="141305_event.csv"'
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Cache-Control"] == "public, max-age=300"
    assert response["ETag"].startswith('"')
    content = body(response)
    # UTF-8 without a byte order mark: the first bytes are the first column name.
    assert content.startswith("都道府県コード又は市区町村コード,NO,".encode())
    assert content.endswith(b"\r\n")
    assert content.count(b"\r\n") == content.count(b"\n") == 2  # header + one row, CRLF only


def test_excel_variant_has_a_byte_order_mark_and_defused_formulas(client, site):
    factories.session(course_page=factories.course(title="=HYPERLINK(\"http://evil\")"))
    content = body(client.get(EVENTS_CSV + "?excel=1"))
    assert content.startswith(b"\xef\xbb\xbf" + "都道府県コード".encode())
    row = next(row for row in read_csv_bytes(content[3:]))
    assert row["イベント名"] == "'=HYPERLINK(\"http://evil\")"
    # The plain file keeps the data as it is.
    assert read_csv(client.get(EVENTS_CSV))[0]["イベント名"] == "=HYPERLINK(\"http://evil\")"


def read_csv_bytes(content: bytes):
    rows = list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))
    assert rows[0] == NATIONAL_COLUMNS
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def test_rfc4180_quoting_of_commas_quotes_and_line_breaks(client, site):
    course = factories.course(title='スマホ講座、"LINE", 入門', summary="一行目\n二行目")
    factories.session(course_page=course)
    raw = body(client.get(EVENTS_CSV)).decode()
    assert '"スマホ講座、""LINE"", 入門"' in raw
    row = read_csv(client.get(EVENTS_CSV))[0]
    assert row["イベント名"] == 'スマホ講座、"LINE", 入門'
    assert row["説明"] == "一行目 二行目"


@BEFORE_2027
def test_a_venue_session_fills_every_column_it_can(client, site):
    partner = factories.partner(name="NPO法人つなぐ", phone="0441234567")
    venue = factories.venue(name="中原市民館", address="川崎市中原区新丸子東3-1100-12", access="武蔵小杉駅から徒歩5分",
                            latitude="35.580000", longitude="139.660100")
    course = factories.course(owner=partner, title="はじめてのスマホ", title_kana="はじめてのすまほ",
                              title_en="Smartphone basics", summary="電源の入れ方から学びます。", fee=500)
    SiteSettings.objects.update_or_create(site=site, defaults={"phone_number": "0442001234"})
    session = session_at(at(2027, 1, 15, 13, 30), course_page=course, venue=venue, capacity=12,
                         duration=timedelta(minutes=90),
                         registration_closes_at=at(2027, 1, 14, 17, 0))
    row = read_csv(client.get(EVENTS_CSV))[0]
    assert row == {
        "都道府県コード又は市区町村コード": "141305", "NO": str(session.pk), "都道府県名": "神奈川県",
        "市区町村名": "川崎市", "イベント名": "はじめてのスマホ", "イベント名_カナ": "ハジメテノスマホ",
        "イベント名_英語": "Smartphone basics", "開始日": "2027-01-15", "終了日": "2027-01-15",
        "開始時間": "13:30", "終了時間": "15:00", "開始日時特記事項": "", "説明": "電源の入れ方から学びます。",
        "料金(基本)": "500円", "料金(詳細)": "", "連絡先名称": "NPO法人つなぐ", "連絡先電話番号": "044-123-4567",
        "連絡先内線番号": "", "主催者": "NPO法人つなぐ", "場所名称": "中原市民館",
        "住所": "神奈川県川崎市中原区新丸子東3-1100-12", "方書": "", "緯度": "35.58", "経度": "139.6601",
        "アクセス方法": "武蔵小杉駅から徒歩5分", "駐車場情報": "", "定員": "12", "参加申込終了日": "2027-01-14",
        "参加申込終了時間": "17:00",
        "参加申込方法": "URL欄のページの申込フォームから申し込み、または電話（044-200-1234）",
        "URL": f"http://testserver{course.url}", "備考": "",
    }


@BEFORE_2027
def test_required_columns_are_never_empty(client, site):
    factories.session()  # a venue with coordinates
    session_at(at(2027, 2, 1), venue=factories.venue(latitude=None, longitude=None))  # no coordinates
    factories.session(venue=None, online_url="https://meet.example.jp/abc")  # online only
    factories.session(online_url="https://meet.example.jp/def")  # at a venue and online
    factories.session(status=Session.Status.CANCELLED, cancellation_reason="講師の急病")
    rows = read_csv(client.get(EVENTS_CSV))
    assert len(rows) == 5
    for row in rows:
        for column in REQUIRED:
            assert row[column].strip(), f"{column} is empty in {row}"
        assert DATE.match(row["開始日"]) and DATE.match(row["終了日"]) and DATE.match(row["参加申込終了日"])
        assert TIME.match(row["開始時間"]) and TIME.match(row["終了時間"]) and TIME.match(row["参加申込終了時間"])
        assert re.fullmatch(r"\d{6}", row["都道府県コード又は市区町村コード"])
        assert row["URL"].startswith("http://testserver/")
    no_coordinates = next(row for row in rows if row["開始日"] == "2027-02-01")
    assert no_coordinates["緯度"] == no_coordinates["経度"] == ""


def test_online_session_place_and_address(client, site):
    session = factories.session(venue=None, online_url="https://meet.example.jp/secret-room")
    row = read_csv(client.get(EVENTS_CSV))[0]
    assert row["NO"] == str(session.pk)
    assert row["場所名称"] == "オンライン"
    assert row["住所"] == "オンライン開催"
    assert row["緯度"] == row["経度"] == row["アクセス方法"] == ""
    # The meeting link is for registered participants only.
    assert "secret-room" not in body(client.get(EVENTS_CSV)).decode()


@BEFORE_2027
def test_times_are_japan_local_time_and_a_session_over_midnight_ends_the_next_day(client, site):
    session_at(at(2027, 3, 31, 23, 0), duration=timedelta(hours=2))
    row = read_csv(client.get(EVENTS_CSV))[0]
    assert (row["開始日"], row["開始時間"], row["終了日"], row["終了時間"]) == ("2027-03-31", "23:00", "2027-04-01",
                                                                          "01:00")


def test_hiragana_and_half_width_kana_become_full_width_katakana():
    assert opendata.katakana("すまほ　にゅうもん") == "スマホ　ニュウモン"
    assert opendata.katakana("ｽﾏﾎﾆｭｳﾓﾝ") == "スマホニュウモン"
    assert opendata.katakana("LINEのつかいかた 2") == "LINEノツカイカタ 2"


def test_free_course_fee(client, site):
    factories.session(course_page=factories.course(fee=0))
    assert read_csv(client.get(EVENTS_CSV))[0]["料金(基本)"] == "無料"


def test_cancelled_upcoming_session_is_marked(client, site):
    session = factories.session(status=Session.Status.CANCELLED, cancellation_reason="講師の急病")
    row = read_csv(client.get(EVENTS_CSV))[0]
    assert row["NO"] == str(session.pk)
    assert row["イベント名"].startswith("【中止】")
    assert "中止" in row["備考"]
    assert "講師の急病" not in row["備考"]  # the reason was written for participants, not published


def test_only_upcoming_sessions_of_public_live_courses(client, site):
    shown = factories.session()
    factories.session(starts_in=timedelta(days=-3))  # over
    draft = factories.session()
    draft.course.unpublish()
    private = factories.session()
    PageViewRestriction.objects.create(page=private.course, restriction_type=PageViewRestriction.PASSWORD,
                                       password="secret")
    rows = read_csv(client.get(EVENTS_CSV))
    assert [row["NO"] for row in rows] == [str(shown.pk)]
    assert [event["NO"] for event in json.loads(body(client.get(EVENTS_JSON)))["events"]] == [str(shown.pk)]


def test_rows_in_start_order(client, site):
    later = factories.session(starts_in=timedelta(days=9))
    sooner = factories.session(starts_in=timedelta(days=2))
    assert [row["NO"] for row in read_csv(client.get(EVENTS_CSV))] == [str(sooner.pk), str(later.pk)]


def test_json_has_the_same_rows_as_the_csv(client, site):
    factories.session()
    factories.session(venue=None, online_url="https://meet.example.jp/x")
    factories.session(status=Session.Status.CANCELLED, cancellation_reason="台風")
    response = client.get(EVENTS_JSON)
    assert response.status_code == 200
    assert response.streaming is True
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"] == 'inline; filename="141305_event.json"'
    assert response["Access-Control-Allow-Origin"] == "*"
    data = json.loads(body(response))
    assert data["name"] == "イベント一覧"
    assert data["columns"] == NATIONAL_COLUMNS
    assert data["events"] == read_csv(client.get(EVENTS_CSV))
    assert all(list(event) == NATIONAL_COLUMNS for event in data["events"])


def test_empty_list_is_valid(client, site):
    assert read_csv(client.get(EVENTS_CSV)) == []
    assert json.loads(body(client.get(EVENTS_JSON)))["events"] == []


def test_the_list_is_the_same_in_english(client, site):
    factories.session()
    japanese = body(client.get(EVENTS_CSV))
    english = body(client.get("/en" + EVENTS_CSV))
    assert english == japanese  # Japanese data, links to the Japanese pages


def test_304_until_something_shown_changes(client, site):
    session = factories.session()
    etag = client.get(EVENTS_CSV)["ETag"]
    assert client.get(EVENTS_CSV, headers={"if-none-match": etag}).status_code == 304
    assert client.get(EVENTS_JSON, headers={"if-none-match": etag}).status_code == 200  # another file
    session.venue.access = "バス停から徒歩3分"
    session.venue.save()
    changed = client.get(EVENTS_CSV, headers={"if-none-match": etag})
    assert changed.status_code == 200
    assert read_csv(changed)[0]["アクセス方法"] == "バス停から徒歩3分"


def _queries_for(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        for url in (EVENTS_CSV, EVENTS_JSON):
            response = client.get(url)
            body(response)  # the rows are read while streaming
    return len(queries)


def test_query_budget(client, site):
    factories.session()
    _queries_for(client)
    # Per file: the municipality, the site (for its settings), its settings, view restrictions (public pages),
    # the ETag's rows, the rows, and the site's root paths (from the cache).
    assert _queries_for(client) <= 2 * 7


def test_query_count_does_not_grow_with_rows(client, site):
    courses = [factories.course(), factories.course(), factories.course()]
    for course in courses:
        factories.session(course_page=course)
    _queries_for(client)  # the site's root paths are cached on the first request
    few = _queries_for(client)
    more_courses = [factories.course() for _n in range(7)]
    for n in range(27):
        factories.session(course_page=(courses + more_courses)[n % 10], venue=None if n % 5 == 0 else factories.venue(),
                          online_url="https://meet.example.jp/x" if n % 5 == 0 else "")
    assert len(read_csv(client.get(EVENTS_CSV))) == 30
    assert _queries_for(client) == few


def test_wrong_method_is_refused(client, site):
    assert client.post(EVENTS_CSV).status_code == 405


# --- Participation statistics -----------------------------------------------------------------------------------

FISCAL_YEAR = metrics.fiscal_year_of(timezone.localdate()) - 1


@pytest.fixture
def participation(site):
    """FY (last year), threshold 3. People by ward of residence and age band, each attending as noted:
    ward 1: 65–74 three people × 2 sessions; 75+ four people × 1.  ward 2: 65–74 one person × 1; 75+ five × 1.
    Plus a booking that was not attended, and an attendance the year before (neither counts)."""
    ward_1, ward_2 = Ward.objects.order_by("sort_order", "code")[:2]
    first = session_at(at(FISCAL_YEAR, 6, 1))
    second = session_at(at(FISCAL_YEAR + 1, 2, 1))
    earlier = session_at(at(FISCAL_YEAR - 1, 12, 1))

    def people(n, ward, band, sessions):
        for _i in range(n):
            person = factories.participant(ward=ward, age_band=band)
            for session in sessions:
                factories.registration(session_obj=session, participant=person, status=Registration.Status.ATTENDED)

    people(3, ward_1, Participant.AgeBand.AGE_70_74, [first, second])
    people(4, ward_1, Participant.AgeBand.AGE_80_84, [first])
    people(1, ward_2, Participant.AgeBand.AGE_65_69, [first])
    people(5, ward_2, Participant.AgeBand.AGE_75_79, [second])
    factories.registration(session_obj=first, participant=factories.participant(ward=ward_2),
                           status=Registration.Status.NO_SHOW)
    people(2, ward_2, Participant.AgeBand.AGE_65_69, [earlier])
    for ward, band, population in [(ward_1, "65-69", 1000), (ward_1, "70-74", 1000), (ward_1, "80-84", 500),
                                   (ward_2, "65-69", 3000), (ward_2, "85+", 1000)]:
        PopulationFigure.objects.create(year=FISCAL_YEAR, ward=ward, age_band=band, population=population)
    return ward_1, ward_2


@override_settings(DEKIRU_SUPPRESSION_THRESHOLD=3)
def test_participation_csv_by_hand(client, participation):
    ward_1, ward_2 = participation
    response = client.get(f"/en/opendata/participation-FY{FISCAL_YEAR}.csv")
    assert response.status_code == 200
    assert response.streaming is True
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Content-Disposition"] == (f'attachment; filename="141305_participation_FY{FISCAL_YEAR}_en.csv"')
    rows = list(csv.reader(io.StringIO(body(response).decode(), newline="")))
    assert rows[0] == ["Fiscal year", "Ward code", "Ward", "Age band code", "Age band", "Participants", "Attendances",
                       "Residents", "Population year", "Participants per 1,000 residents"]
    lines = {(row[1], row[3]): row[5:] for row in rows[1:]}
    year = str(FISCAL_YEAR)
    # 1 person (ward 2, 65–74) is below 3: hidden. The cheapest cycle that protects it goes through ward 1 65–74
    # (3), ward 1 75+ (4) and ward 2 75+ (5); every total stays published.
    assert lines[(ward_1.code, "u65")] == ["0", "0", "", year, ""]
    assert lines[(ward_1.code, "65-74")] == ["X", "X", "2000", year, "X"]
    assert lines[(ward_1.code, "75+")] == ["X", "X", "500", year, "X"]
    assert lines[(ward_1.code, "all")] == ["7", "10", "2500", year, "2.80"]
    assert lines[(ward_2.code, "65-74")] == ["X", "X", "3000", year, "X"]
    assert lines[(ward_2.code, "75+")] == ["X", "X", "1000", year, "X"]
    assert lines[(ward_2.code, "all")] == ["6", "6", "4000", year, "1.50"]
    assert lines[("141305", "u65")] == ["0", "0", "", year, ""]
    assert lines[("141305", "65-74")] == ["4", "7", "5000", year, "0.80"]
    assert lines[("141305", "75+")] == ["9", "9", "1500", year, "6.00"]
    assert lines[("141305", "all")] == ["13", "16", "6500", year, "2.00"]
    other_wards = Ward.objects.exclude(pk__in=[ward_1.pk, ward_2.pk])
    for ward in other_wards:
        assert lines[(ward.code, "all")] == ["0", "0", "", year, ""]
    # 7 wards + the city, × 3 bands + all ages; nobody without a ward or band, so no "not given" lines.
    assert len(rows) == 1 + (other_wards.count() + 3) * 4
    english = {row[1]: row[2] for row in rows[1:]}
    assert english[ward_1.code] == ward_1.name_en and english["141305"] == "Kawasaki City"


@override_settings(DEKIRU_SUPPRESSION_THRESHOLD=3)
def test_participation_not_given_lines_when_someone_has_no_ward(client, participation):
    person = factories.participant(ward=None, age_band="")
    factories.registration(session_obj=Session.objects.order_by("starts_at")[1], participant=person,
                           status=Registration.Status.ATTENDED)
    rows = list(csv.reader(io.StringIO(body(client.get(f"/en/opendata/participation-FY{FISCAL_YEAR}.csv")).decode(),
                                       newline="")))
    lines = {(row[1], row[3]): row[5:7] for row in rows[1:]}
    assert lines[("unknown", "unknown")] == ["X", "X"]  # one person
    assert lines[("141305", "all")] == ["14", "17"]


def test_participation_default_threshold_hides_everything_small(client, participation):
    rows = list(csv.reader(io.StringIO(body(client.get(f"/en/opendata/participation-FY{FISCAL_YEAR}.csv")).decode(),
                                       newline="")))
    # At 10 people every cell and total is hidden but the city's (13 people), and the zeros.
    published = {(row[1], row[3]): row[5:7] for row in rows[1:] if row[5] not in ("X", "0")}
    assert published == {("141305", "all"): ["13", "16"]}
    assert all(row[9] in ("X", "") for row in rows[1:] if row[5] == "X")


def test_participation_table_masks_are_protected(participation):
    from tests.outreach.test_suppression import assert_protected

    with override_settings(DEKIRU_SUPPRESSION_THRESHOLD=3):
        table = opendata.participation_table(FISCAL_YEAR)
    assert_protected(table.participants, table.hidden, 3)


def test_participation_for_a_year_without_data_is_404(client, site):
    assert client.get("/opendata/participation-FY1999.csv").status_code == 404
    future = metrics.fiscal_year_of(timezone.localdate()) + 1
    assert client.get(f"/opendata/participation-FY{future}.csv").status_code == 404


def test_participation_headers_in_japanese_url_go_through_translation(client, participation):
    response = client.get(f"/opendata/participation-FY{FISCAL_YEAR}.csv")
    assert response.status_code == 200
    assert response["Content-Language"] == "ja"
    with translation.override("ja"):
        expected = opendata.participation_header()
    first = next(csv.reader(io.StringIO(body(response).decode(), newline="")))
    assert first == expected


# --- The index page ---------------------------------------------------------------------------------------------


def test_index_lists_the_datasets_in_both_languages(client, participation):
    response = client.get("/en/opendata/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="en" class=' in html
    assert "<h1>Open data</h1>" in html
    assert 'href="/en/opendata/events.csv"' in html and 'href="/en/opendata/events.json"' in html
    assert 'href="/en/opendata/events.csv?excel=1"' in html
    assert f'href="/en/opendata/participation-FY{FISCAL_YEAR}.csv"' in html
    assert "fewer than 10 people" in html and "“X”" in html
    japanese = client.get("/opendata/")
    assert japanese.status_code == 200
    assert '<html lang="ja" class=' in japanese.content.decode()
    assert 'href="/opendata/events.csv"' in japanese.content.decode()
