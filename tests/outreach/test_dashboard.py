"""The outreach dashboard in the admin, its chart images and table downloads: who may see them, partner scoping
(partner B never sees partner A's figures: page, alt texts, images, CSV), filters, downloads equal to the page's
tables, the chart cache and its data version, query budgets, the home-page panel."""

import csv
import io
import re
from datetime import timedelta
from html.parser import HTMLParser

import openpyxl
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import RequestFactory
from django.utils import timezone, translation
from wagtail.models import ModelLogEntry
from wagtail.users.models import UserProfile

from cms.i18n import localized
from courses.models import Registration, Topic
from outreach import charts, dashboard, metrics
from outreach.admin.dashboard import EXPORT_LOG_ACTION, DashboardPanel
from outreach.models import (
    Consultation,
    ConsultationTopic,
    InternetUsageRate,
    KpiTarget,
    PopulationFigure,
    SelfAssessment,
    SkillItem,
    SkillScore,
)
from partners.models import Ward
from partners.services import add_membership
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

DASHBOARD = "/admin/outreach/dashboard/"
A_TOPIC, B_TOPIC = "A社だけのテーマ", "B社だけのテーマ"
A_PARTNER, B_PARTNER = "NPO法人エーサポート", "株式会社ビーICT"
# Queries of one dashboard page (session and user, permissions, filter choices, figures, tables, chart alt texts,
# menus; one look-up per figure of whether a fresh summary of the fiscal year exists; and the notes on possibly
# defaulted age bands, outreach.data_quality). The figures are aggregates: the number must not grow with the rows.
# … + the channel mix (outreach.dashboard.channel_mix: one query) + the outcomes a month later (13, pinned there)
DASHBOARD_QUERIES = 67
PANEL_QUERIES_CACHED = 3  # partner scope (city staff check), data version, cache read


# --- Set-up ---------------------------------------------------------------------------------------------------


def staff(username, group, partner=None):
    user = get_user_model().objects.create_user(username, password="pw")
    user.groups.add(Group.objects.get(name=group))
    if partner:
        add_membership(partner=partner, user=user, role="manager")
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = "en"  # the admin renders in the user's language: assert on English text
    profile.save()
    return user


def attend(session, count, *, band, ward, status=Registration.Status.ATTENDED):
    registrations = []
    for _ in range(count):
        person = factories.participant(age_band=band, ward=ward)
        registrations.append(factories.registration(session_obj=session, participant=person, status=status))
    return registrations


def held_session(partner, topic, **fields):
    """A session that started three hours ago and is over (so it is held, in the current fiscal year)."""
    course = factories.course(owner=partner)
    course.topics.add(topic)
    course.save_revision().publish()
    return factories.session(course_page=course, organiser=partner, starts_in=-timedelta(hours=3),
                             duration=timedelta(hours=2), **fields)


@pytest.fixture
def world(site):
    """Partner A: 12 attendances of people aged 85+ living in the first ward. Partner B: 5 attendances (and one
    no-show) of people aged 70–74 living in the second ward. A support-desk consultation (the city's)."""
    first, second = list(Ward.objects.order_by("sort_order", "code")[:2])
    a = factories.partner(name=A_PARTNER, name_en="A Support")
    b = factories.partner(name=B_PARTNER, name_en="B ICT")
    a_topic = Topic.objects.create(name=A_TOPIC, slug="a-topic")
    b_topic = Topic.objects.create(name=B_TOPIC, slug="b-topic")
    a_session = held_session(a, a_topic, venue=factories.venue(ward=first))
    b_session = held_session(b, b_topic, venue=factories.venue(ward=second))
    attend(a_session, 12, band="85+", ward=first)
    b_people = attend(b_session, 5, band="70-74", ward=second)
    attend(b_session, 1, band="70-74", ward=second, status=Registration.Status.NO_SHOW)
    consultation = Consultation.objects.create(date=timezone.localdate(), place=Consultation.Place.WARD_OFFICE,
                                               place_ward=first, residence_ward=first, age_band="75-79",
                                               outcome=Consultation.Outcome.SOLVED)
    consultation.topics.add(ConsultationTopic.objects.first())
    return {"a": a, "b": b, "first": first, "second": second, "a_session": a_session, "b_session": b_session,
            "b_people": b_people, "fiscal_year": metrics.fiscal_year_of(timezone.localdate(a_session.starts_at))}


@pytest.fixture
def analyst(db):
    return staff("analyst", "City analyst")


@pytest.fixture
def b_manager(world):
    return staff("b-manager", "Partner manager", partner=world["b"])


def ward_name(ward) -> str:
    """A ward's name as the tests' users (admin language English) see it."""
    return localized(ward, "name", "en")


def query(world, **extra) -> str:
    return "&".join([f"fiscal_year={world['fiscal_year']}", *(f"{key}={value}" for key, value in extra.items())])


# --- Reading the page -------------------------------------------------------------------------------------------


class Tables(HTMLParser):
    """The page's tables ({caption: [[cell text]]}), image alt texts and tiles ({class: value})."""

    def __init__(self, html):
        super().__init__()
        self.tables, self.alts, self.tiles = {}, {}, {}
        self._caption = self._rows = self._text = self._tile = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._rows = []
        elif tag == "caption" or (tag in ("th", "td") and self._rows is not None):
            self._text = []
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag == "img" and "dekiru-chart__image" in attrs.get("class", ""):
            self.alts[attrs["src"].split("?")[0].rsplit("/", 1)[-1]] = attrs["alt"]
        elif tag == "div" and "dekiru-tile--" in attrs.get("class", ""):
            self._tile = attrs["class"].split("dekiru-tile--")[1].split()[0]
        elif tag == "dd" and self._tile:
            self._text = []
        elif tag == "span" and self._text is not None and "w-sr-only" in attrs.get("class", ""):
            self._text.append("\0")  # screen-reader words: dropped below

    def handle_endtag(self, tag):
        if tag == "caption" and self._text is not None:
            self._caption = "".join(self._text).strip()
            self._text = None
        elif tag in ("th", "td") and self._text is not None and self._rows is not None:
            self._rows[-1].append("".join(self._text).split("\0")[0].strip())
            self._text = None
        elif tag == "table" and self._rows is not None:
            self.tables[self._caption] = self._rows
            self._rows = None
        elif tag == "dd" and self._tile:
            self.tiles[self._tile] = "".join(self._text).strip()
            self._tile = self._text = None

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)


def number(text):
    """A cell as a number (None for an empty or "–" cell); labels stay text."""
    text = str(text).strip().replace(",", "")
    if text in ("", "–", "None"):
        return None
    try:
        return float(text)
    except ValueError:
        return text


def numbers(rows):
    return [[number(cell) for cell in row] for row in rows]


def page(client, url):
    response = client.get(url)
    assert response.status_code == 200, response
    return Tables(response.content.decode())


def csv_rows(response) -> list[list[str]]:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    assert content.startswith(b"\xef\xbb\xbf"), "UTF-8 with a BOM"
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


# --- Access -----------------------------------------------------------------------------------------------------

URLS = [DASHBOARD, "/admin/outreach/charts/attendance-ward.png", "/admin/outreach/charts/gap.svg",
        "/admin/outreach/tables/attendance-ward.csv", "/admin/outreach/tables/skills.xlsx"]


@pytest.mark.parametrize("url", URLS)
def test_anonymous_users_are_sent_to_the_login_page(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("url", URLS)
def test_staff_without_the_dashboard_permission_are_refused(client, world, url):
    client.force_login(staff("caller", "Call-centre operator"))
    response = client.get(url)
    assert response.status_code in (302, 403)
    assert response.status_code == 403 or response["Location"] == "/admin/"
    assert not response.content or b"dekiru-tile" not in response.content
    assert not ModelLogEntry.objects.filter(action=EXPORT_LOG_ACTION).exists()


def test_partner_staff_without_a_partner_see_nothing(client, world):
    client.force_login(staff("orphan", "Partner manager"))
    tables = page(client, f"{DASHBOARD}?{query(world)}")
    assert tables.tiles["attendances"] == "0"
    assert tables.tiles["sessions_held"] == "0"


@pytest.mark.parametrize("url", ["/admin/outreach/charts/nonsense.png", "/admin/outreach/charts/gap.gif",
                                 "/admin/outreach/tables/nonsense.csv", "/admin/outreach/tables/skills.pdf"])
def test_unknown_charts_tables_and_formats_are_not_found(client, analyst, url):
    client.force_login(analyst)
    assert client.get(url).status_code == 404


def test_menu_item_for_those_who_may_see_it(client, world, analyst):
    client.force_login(analyst)
    assert DASHBOARD.encode() in client.get("/admin/").content
    client.force_login(staff("caller", "Call-centre operator"))
    assert DASHBOARD.encode() not in client.get("/admin/").content


# --- Partner scoping --------------------------------------------------------------------------------------------


def test_city_analyst_sees_the_whole_city(client, world, analyst):
    client.force_login(analyst)
    response = client.get(f"{DASHBOARD}?{query(world)}")
    html = response.content.decode()
    tables = Tables(html)
    assert tables.tiles["attendances"] == "17"
    assert tables.tiles["unique_participants"] == "17"
    assert tables.tiles["sessions_held"] == "2"
    assert tables.tiles["consultations"] == "1"
    by_ward = numbers(tables.tables["Attendances by age band and ward of residence"])
    assert by_ward[-1][-1] == 17  # the grand total
    assert A_TOPIC in html and B_TOPIC in html
    assert "By ward: " in tables.alts["attendance-ward.png"] and "17 in all" in tables.alts["attendance-ward.png"]
    assert "Consultations by outcome" in tables.tables
    assert numbers(tables.tables["Consultations by outcome"])[-1] == ["Total", 1]


def test_partner_b_never_sees_partner_a(client, world, b_manager):
    client.force_login(b_manager)
    first_ward = ward_name(world["first"])
    html = client.get(f"{DASHBOARD}?{query(world)}").content.decode()
    tables = Tables(html)
    # Headline figures: B's only.
    assert tables.tiles["attendances"] == "5"
    assert tables.tiles["sessions_held"] == "1"
    assert tables.tiles["registrations"] == "6"
    assert "consultations" not in tables.tiles
    # Tables: no 85+ attendance (A's people), nothing in A's ward, not A's topic or name.
    by_ward = tables.tables["Attendances by age band and ward of residence"]
    assert by_ward[0][1] == first_ward
    row_85 = next(row for row in by_ward if row[0] == "85 and over")
    assert set(row_85[1:]) == {"0"}
    assert [row[1] for row in by_ward[1:]] == ["0"] * (len(by_ward) - 1)  # the first ward's column
    assert numbers(by_ward)[-1][-1] == 5
    assert A_PARTNER not in html and "A Support" not in html  # not even in the partner filter
    cells = {cell for rows in tables.tables.values() for row in rows for cell in row}
    assert A_TOPIC not in cells  # topics without attendances are left out
    # Consultations are the city's: not shown, not downloadable.
    assert 'id="consultations-heading"' not in html and "Consultations by topic" not in tables.tables
    assert client.get(f"/admin/outreach/tables/consultations-topic.csv?{query(world)}").status_code == 404
    # Alt texts: B's numbers only.
    alt = tables.alts["attendance-ward.png"]
    assert "5 in all" in alt and "85 and over" not in alt and first_ward not in alt
    assert A_TOPIC not in tables.alts["attendance-topic.png"]
    # Chart images: A's ward and topic are not drawn (empty series are left out).
    svg = client.get(f"/admin/outreach/charts/attendance-ward.svg?{query(world)}").content.decode()
    assert ward_name(world["second"]) in svg and first_ward not in svg
    svg = client.get(f"/admin/outreach/charts/attendance-topic.svg?{query(world)}").content.decode()
    assert B_TOPIC in svg and A_TOPIC not in svg
    # Downloads.
    rows = csv_rows(client.get(f"/admin/outreach/tables/attendance-ward.csv?{query(world)}"))
    assert rows[-1][-1] == "5"
    assert set(next(row for row in rows if row[0] == "85 and over")[1:]) == {"0"}
    rows = csv_rows(client.get(f"/admin/outreach/tables/attendance-topic.csv?{query(world)}"))
    assert A_TOPIC not in {cell for row in rows for cell in row}


def test_partner_b_cannot_ask_for_partner_a(client, world, b_manager):
    client.force_login(b_manager)
    tables = page(client, f"{DASHBOARD}?{query(world, partner=world['a'].pk)}")
    assert tables.tiles["attendances"] == "5"  # the partner filter is refused, the scope stays
    rows = csv_rows(client.get(f"/admin/outreach/tables/summary.csv?{query(world, partner=world['a'].pk)}"))
    assert ["Attendances", "5"] in rows
    svg = client.get(f"/admin/outreach/charts/attendance-topic.svg?{query(world, partner=world['a'].pk)}")
    assert A_TOPIC not in svg.content.decode()


def test_partner_b_and_city_get_different_cached_charts(client, world, analyst, b_manager):
    url = f"/admin/outreach/charts/attendance-ward.svg?{query(world)}"
    client.force_login(analyst)
    city = client.get(url).content.decode()
    client.force_login(b_manager)
    mine = client.get(url).content.decode()
    assert ward_name(world["first"]) in city and ward_name(world["first"]) not in mine


# --- Filters ----------------------------------------------------------------------------------------------------


def test_the_ward_filter_changes_the_figures(client, world, analyst):
    client.force_login(analyst)
    tables = page(client, f"{DASHBOARD}?{query(world, ward=world['first'].pk)}")
    assert tables.tiles["attendances"] == "12"  # A's people live in the first ward
    tables = page(client, f"{DASHBOARD}?{query(world, ward=world['second'].pk)}")
    assert tables.tiles["attendances"] == "5"
    rows = csv_rows(client.get(f"/admin/outreach/tables/attendance-ward.csv?{query(world, ward=world['second'].pk)}"))
    assert rows[-1][-1] == "5"


def test_age_band_topic_and_month_filters(client, world, analyst):
    client.force_login(analyst)
    assert page(client, f"{DASHBOARD}?{query(world, age_band='75%2B')}").tiles["attendances"] == "12"
    b_topic = Topic.objects.get(name=B_TOPIC)
    tables = page(client, f"{DASHBOARD}?{query(world, topic=b_topic.pk)}")
    assert tables.tiles["attendances"] == "5"
    assert "Consultations by topic" not in tables.tables  # consultations have no course topic
    month = timezone.localdate(world["a_session"].starts_at).month
    other_month = 4 if month != 4 else 5
    assert page(client, f"{DASHBOARD}?{query(world, month=month)}").tiles["attendances"] == "17"
    assert page(client, f"{DASHBOARD}?{query(world, month=other_month)}").tiles["attendances"] == "0"


def test_an_invalid_filter_is_reported_and_the_others_still_apply(client, world, analyst):
    client.force_login(analyst)
    response = client.get(f"{DASHBOARD}?{query(world, ward=world['second'].pk, topic=999999)}")
    tables = Tables(response.content.decode())
    assert tables.tiles["attendances"] == "5"
    assert b"help-critical" in response.content


# --- Downloads --------------------------------------------------------------------------------------------------


def _reference_data(world):
    """Population, internet usage, KPI targets and paired self-assessments, so that every table has figures."""
    year = world["fiscal_year"]
    for ward in (world["first"], world["second"]):
        for band in ("70-74", "85+"):
            PopulationFigure.objects.create(year=year, ward=ward, age_band=band, population=2000)
    for band, rate in (("20-29", 98.4), ("50-59", 95.0), ("70-79", 59.4), ("80+", 27.6), ("all", 82.9)):
        InternetUsageRate.objects.create(year=2021, age_band=band, rate=rate)
    KpiTarget.objects.create(fiscal_year=year, metric=KpiTarget.Metric.ATTENDANCES, target=40)
    KpiTarget.objects.create(fiscal_year=year, metric=KpiTarget.Metric.FOUNDATION_ON_MY_OWN, target=60)
    item = SkillItem.objects.get(number=1)
    for registration in world["b_people"][:3]:
        for kind, score in ((SelfAssessment.Kind.PRE, 0), (SelfAssessment.Kind.POST, 2)):
            assessment = SelfAssessment.objects.create(registration=registration, kind=kind,
                                                       source=SelfAssessment.Source.PAPER)
            SkillScore.objects.create(assessment=assessment, item=item, score=score)


@pytest.mark.parametrize("name", sorted(dashboard.TABLES))
def test_downloads_hold_the_numbers_of_the_page(client, world, analyst, name):
    _reference_data(world)
    client.force_login(analyst)
    tables = page(client, f"{DASHBOARD}?{query(world)}")
    with translation.override("en"):  # the analyst's admin language
        board = dashboard.Dashboard(metrics.Filters(fiscal_year=world["fiscal_year"]))
        title = board.table(name).title
    response = client.get(f"/admin/outreach/tables/{name}.csv?{query(world)}")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="dekiru-{name}-FY{world["fiscal_year"]}.csv"'
    downloaded = numbers(csv_rows(response))
    workbook = openpyxl.load_workbook(io.BytesIO(client.get(f"/admin/outreach/tables/{name}.xlsx?{query(world)}")
                                                .content))
    sheet = numbers([["" if cell is None else cell for cell in row]
                     for row in workbook.active.iter_rows(values_only=True)])
    assert sheet == downloaded
    if name == "summary":  # tiles on the page
        values = {row[0]: row[1] for row in downloaded[1:]}
        assert values["Attendances"] == 17 == number(tables.tiles["attendances"])
        assert values["Attendance rate (%)"] == number(tables.tiles["attendance_rate"])
    else:
        assert numbers(tables.tables[title]) == downloaded
    assert any(isinstance(cell, float) and cell for row in downloaded[1:] for cell in row[1:]), "some figures"


def test_downloads_are_logged(client, world, analyst, b_manager):
    client.force_login(b_manager)
    client.get(f"/admin/outreach/tables/monthly.xlsx?{query(world)}")
    entry = ModelLogEntry.objects.get(action=EXPORT_LOG_ACTION)
    assert entry.user_id == b_manager.pk
    assert entry.object_id == str(world["b"].pk)  # logged on the partner whose figures they are
    assert entry.data["table"] == "monthly" and entry.data["format"] == "xlsx"
    assert entry.data["partners"] == [world["b"].pk]
    client.force_login(analyst)
    client.get(f"/admin/outreach/tables/gap.csv?{query(world)}")
    assert ModelLogEntry.objects.filter(action=EXPORT_LOG_ACTION, user=analyst, data__partners="all").exists()


def test_file_names_carry_the_fiscal_year_and_month():
    assert dashboard.export_filename("monthly", metrics.Filters(fiscal_year=2025), "csv") == \
        "dekiru-monthly-FY2025.csv"
    assert dashboard.export_filename("reach", metrics.Filters(fiscal_year=2025, month=1), "xlsx") == \
        "dekiru-reach-FY2025-01.xlsx"


def test_csv_cells_that_look_like_formulas_are_defused():
    matrix = metrics.Matrix("=HYPERLINK()", [("1", "=cmd|' /C calc'!A0"), ("2", "普通")], [("n", "+n")],
                            {("1", "n"): -3, ("2", "n"): 4}, "@row", totals=False)
    rows = list(csv.reader(io.StringIO(dashboard.table_csv(matrix).decode("utf-8-sig"))))
    assert rows == [["'@row", "'+n"], ["'=cmd|' /C calc'!A0", "-3"], ["普通", "4"]]
    sheet = openpyxl.load_workbook(io.BytesIO(dashboard.table_xlsx(matrix))).active
    assert sheet["A2"].value == "'=cmd|' /C calc'!A0" and sheet["A2"].data_type == "s" and sheet["B2"].value == -3


# --- Charts and their cache -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(dashboard.CHARTS))
def test_every_chart_is_served(client, world, analyst, name):
    _reference_data(world)
    client.force_login(analyst)
    response = client.get(f"/admin/outreach/charts/{name}.png?{query(world)}")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    from PIL import Image

    assert Image.open(io.BytesIO(response.content)).size == (charts.CHART_WIDTH, charts.CHART_HEIGHT)
    svg = client.get(f"/admin/outreach/charts/{name}.svg?{query(world)}")
    assert svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content


@pytest.fixture
def renders(monkeypatch):
    """Counts the charts actually drawn."""
    calls = []
    original = charts._save

    def counting(figure, fmt):
        calls.append(fmt)
        return original(figure, fmt)

    monkeypatch.setattr(charts, "_save", counting)
    return calls


def test_an_unchanged_request_is_served_from_the_cache(client, world, analyst, renders):
    client.force_login(analyst)
    url = f"/admin/outreach/charts/attendance-ward.png?{query(world)}"
    first = client.get(url)
    assert len(renders) == 1
    second = client.get(url)
    assert len(renders) == 1, "no drawing the second time"
    assert second.content == first.content
    # Other filters, format or language: another picture.
    client.get(f"{url}&ward={world['first'].pk}")
    client.get(url.replace(".png", ".svg"))
    profile = UserProfile.get_for_user(analyst)
    profile.preferred_language = "ja"
    profile.save()
    client.get(url)
    assert len(renders) == 4


def test_a_change_in_the_data_draws_the_chart_again(client, world, analyst, renders):
    client.force_login(analyst)
    url = f"/admin/outreach/charts/attendance-ward.png?{query(world)}"
    before = client.get(url).content
    attend(world["b_session"], 3, band="85+", ward=world["second"])  # new attendances
    after = client.get(url).content
    assert len(renders) == 2 and after != before
    client.get(url)
    assert len(renders) == 2


def test_the_data_version_follows_every_source(world):
    versions = [dashboard.data_version()]

    def changed():
        versions.append(dashboard.data_version())
        return versions[-1] != versions[-2]

    assert not changed()  # nothing changed, same version
    registration = world["b_people"][0]
    Registration.objects.filter(pk=registration.pk).update(status=Registration.Status.NO_SHOW,
                                                           updated_at=timezone.now() + timedelta(seconds=5))
    assert changed()
    registration.delete()
    assert changed()
    figure = PopulationFigure.objects.create(year=2025, ward=world["first"], age_band="85+", population=100)
    assert changed()
    PopulationFigure.objects.filter(pk=figure.pk).update(population=101)  # an edit in place
    assert changed()
    target = KpiTarget.objects.create(fiscal_year=2025, metric=KpiTarget.Metric.ATTENDANCES, target=10)
    assert changed()
    KpiTarget.objects.filter(pk=target.pk).update(target=11)
    assert changed()
    InternetUsageRate.objects.create(year=2023, age_band="all", rate=86.2)
    assert changed()
    Consultation.objects.create(date=timezone.localdate(), place=Consultation.Place.WARD_OFFICE,
                                place_ward=world["first"], outcome=Consultation.Outcome.SOLVED)
    assert changed()
    Consultation.objects.first().topics.add(ConsultationTopic.objects.last())
    assert changed()
    assessment = SelfAssessment.objects.create(registration=world["b_people"][1], kind=SelfAssessment.Kind.PRE,
                                               source=SelfAssessment.Source.PAPER)
    assert changed()
    score = SkillScore.objects.create(assessment=assessment, item=SkillItem.objects.get(number=2), score=0)
    assert changed()
    SkillScore.objects.filter(pk=score.pk).update(score=1)
    assert changed()
    # And the day: the share of the year elapsed and the months drawn change with it.
    assert dashboard.data_version(today=timezone.localdate() + timedelta(days=1)) != versions[-1]


def test_the_data_version_is_one_query_once_per_request(world, django_assert_num_queries):
    request = RequestFactory().get("/")
    with django_assert_num_queries(1):
        version = dashboard.data_version(request)
        assert dashboard.data_version(request) == version


# --- Page contents and accessibility -----------------------------------------------------------------------------


def test_page_shows_kpis_tables_and_accessible_charts(client, world, analyst):
    _reference_data(world)
    client.force_login(analyst)
    html = client.get(f"{DASHBOARD}?{query(world)}").content.decode()
    tables = Tables(html)
    for caption in ("KPI progress", "Attendances by age band and ward of residence",
                    "Attendances by age band and topic", "Attendances per month", "Participants per 1,000 residents",
                    "Can-do items before and after the course", "Consultations by topic", "Consultations by place",
                    "Internet use by age and the divide gap"):
        assert caption in tables.tables, caption
    assert set(tables.alts) == {f"{name}.png" for name in dashboard.CHARTS}
    assert all(alt for alt in tables.alts.values())
    assert "Attendances 17 of 40 (42.5%" in tables.alts["kpi.png"]
    assert '<progress max="100" value="42.5"' in html
    assert f"with the population figures of {world['fiscal_year']}" in html
    assert html.count("<figure") == len(dashboard.CHARTS) and html.count("<figcaption") == len(dashboard.CHARTS)
    assert '<th scope="col"' in html and '<th scope="row">' in html and "<tfoot>" in html
    reach = numbers(tables.tables["Participants per 1,000 residents"])
    seventies = next(row for row in reach if row[0] == "65–74")  # reach in 65–74 / 75+ by default (issue 19)
    assert 2.5 in seventies  # 5 participants of 2,000 residents in the second ward
    gap = numbers(tables.tables["Internet use by age and the divide gap"])
    assert gap[1][0] == 2021


# --- Speed ------------------------------------------------------------------------------------------------------


def _more_rows(world, n):
    for index in range(n):
        partner = world["a"] if index % 2 else world["b"]
        topic = Topic.objects.create(name=f"テーマ{index}", slug=f"topic-{index}")
        session = held_session(partner, topic, venue=factories.venue(ward=world["second"]))
        attend(session, 3, band="65-69", ward=world["first"])
        Consultation.objects.create(date=timezone.localdate(), place=Consultation.Place.COMMUNITY_CENTRE,
                                    place_ward=world["second"], outcome=Consultation.Outcome.REFERRED_CLASS)


def test_the_dashboard_query_count_does_not_grow_with_the_data(client, world, analyst, django_assert_num_queries):
    _reference_data(world)
    client.force_login(analyst)
    url = f"{DASHBOARD}?{query(world)}"
    client.get(url)  # warm: content types, permissions
    with django_assert_num_queries(DASHBOARD_QUERIES):
        assert client.get(url).status_code == 200
    _more_rows(world, 6)
    with django_assert_num_queries(DASHBOARD_QUERIES):
        tables = Tables(client.get(url).content.decode())
    assert tables.tiles["attendances"] == str(17 + 18)


def test_one_summary_serves_the_tiles_and_the_kpis(world, monkeypatch):
    _reference_data(world)
    calls = []
    original = metrics.summary
    monkeypatch.setattr(metrics, "summary", lambda *args, **kwargs: calls.append(1) or original(*args, **kwargs))
    board = dashboard.Dashboard(metrics.Filters(fiscal_year=world["fiscal_year"]))
    assert board.summary is board.summary
    assert board.kpis and dashboard.summary_matrix(board).rows
    assert len(calls) == 1


# --- The home-page panel ------------------------------------------------------------------------------------------


def test_home_page_panel_for_those_who_may_see_the_dashboard(client, world, analyst, b_manager):
    client.force_login(analyst)
    html = client.get("/admin/").content.decode()
    assert 'id="outreach-dashboard' in html and DASHBOARD in html
    assert re.search(r'class="dekiru-tile__value">17<', html)  # attendances of the whole city
    client.force_login(b_manager)
    html = client.get("/admin/").content.decode()
    assert 'id="outreach-dashboard' in html
    client.force_login(staff("caller", "Call-centre operator"))
    assert 'id="outreach-dashboard' not in client.get("/admin/").content.decode()


def test_home_page_panel_is_cheap_and_does_not_grow_with_the_data(world, analyst, django_assert_num_queries):
    _reference_data(world)

    def new_request():
        request = RequestFactory().get("/admin/")
        request.user = get_user_model().objects.get(pk=analyst.pk)  # a fresh user: nothing cached on it
        return request

    def panel(request=None):
        return DashboardPanel(request or new_request()).get_context_data({})

    first = panel()  # draws up the figures and caches them
    fresh_request = new_request()
    with django_assert_num_queries(PANEL_QUERIES_CACHED):
        assert panel(fresh_request) == first
    assert [value for _label, value in first["tiles"]] == [17, 17, 17, 2]
    _more_rows(world, 4)
    fresh = panel()  # the data changed: new figures
    assert fresh["tiles"] != first["tiles"]
    fresh_request = new_request()
    with django_assert_num_queries(PANEL_QUERIES_CACHED):
        panel(fresh_request)


def test_home_page_panel_of_partner_staff_has_their_figures_only(world, b_manager):
    request = RequestFactory().get("/admin/")
    request.user = b_manager
    figures = DashboardPanel(request).get_context_data({})
    # Attendances, participants, participants aged 65+, sessions held.
    assert [value for _label, value in figures["tiles"]] == [5, 5, 5, 1]
    assert figures["is_partner_staff"]
