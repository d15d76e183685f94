"""The annual report and the partner activity report (実績報告): figures worked out by hand on a small fixture of
two partners in FY2024, the side-by-side comparison agreeing with each partner's report, scoping of every URL,
downloads and their audit log, query budgets, the print stylesheet, and an empty fiscal year."""

import csv
import datetime as dt
import io

import openpyxl
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from wagtail.models import ModelLogEntry
from wagtail.users.models import UserProfile

from cms import roles
from courses.models import Registration, Session, SessionStaff
from outreach import bands, metrics, reports
from outreach.models import KpiTarget, SelfAssessment, SkillItem, SkillScore
from partners.models import Ward
from partners.services import add_membership
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]
Status, Channel = Registration.Status, Registration.Channel
FY = 2024
ANNUAL = "/admin/outreach/reports/annual/"
PARTNERS = "/admin/outreach/reports/partners/"


def at(year, month, day, hour=10):
    return timezone.make_aware(dt.datetime(year, month, day, hour))


def held_session(organiser, when, *, capacity=10, ward=None, course_page=None, status=Session.Status.SCHEDULED):
    fields = {"venue": factories.venue(ward=ward)} if ward else {}
    if status == Session.Status.CANCELLED:
        fields.update(status=status, cancellation_reason="講師の体調不良")
    session = factories.session(organiser=organiser, capacity=capacity, course_page=course_page, **fields)
    Session.objects.filter(pk=session.pk).update(starts_at=when, ends_at=when + dt.timedelta(hours=2))
    session.refresh_from_db()
    return session


def person(age_band, ward=None):
    return factories.participant(age_band=age_band, ward=ward)


def book(session, participant, status=Status.ATTENDED, channel=Channel.WEB):
    return factories.registration(session_obj=session, participant=participant, status=status, channel=channel)


def assess(registration, kind, scores: dict[int, int]):
    assessment = SelfAssessment.objects.create(registration=registration, kind=kind,
                                               source=SelfAssessment.Source.PAPER)
    for number, score in scores.items():
        SkillScore.objects.create(assessment=assessment, item=SkillItem.objects.get(number=number), score=score)


def staff(username, group, partner=None, role="manager", language="en"):
    user = get_user_model().objects.create_user(username, password="pw", first_name=username.title(),
                                                last_name="Tester")
    user.groups.add(Group.objects.get(name=group))
    if partner:
        add_membership(partner=partner, user=user, role=role)
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = language
    profile.save()
    return user


@pytest.fixture
def programme(site):
    """FY2024. Partner A: two sessions held (capacity 10 and 8), one cancelled, one in FY2025. Partner B: one
    session held (capacity 6). Participant p1 attends both partners' classes."""
    w1, w2 = Ward.objects.order_by("sort_order")[:2]
    a = factories.partner(name="NPO法人あおば", name_en="Aoba")
    b = factories.partner(name="ICT事業者みどり", name_en="Midori")
    p1, p2, p3, p4 = person("70-74", w1), person("80-84", w2), person("40-49", w1), person("65-69", w1)
    p5, p6, p7, p8 = person("85+"), person("50-59", w1), person("60-64", w2), person("30-39", w2)
    p9, p10 = person("75-79", w1), person("30-39", w2)

    s1 = held_session(a, at(2024, 5, 10), capacity=10, ward=w1)
    r1 = book(s1, p1)
    r2 = book(s1, p2)
    book(s1, p3, Status.NO_SHOW)
    book(s1, p4, Status.CONFIRMED)  # never marked: holds a seat, not attended
    book(s1, p5, channel=Channel.WALK_IN)
    book(s1, p6, Status.WAITLISTED)
    instructor = get_user_model().objects.create_user("yamada", first_name="Taro", last_name="Yamada")
    assistant = get_user_model().objects.create_user("sato", first_name="Hana", last_name="Sato")
    SessionStaff.objects.create(session=s1, user=instructor, role=SessionStaff.Role.INSTRUCTOR)
    SessionStaff.objects.create(session=s1, user=assistant, role=SessionStaff.Role.ASSISTANT)

    s2 = held_session(a, at(2024, 6, 14), capacity=8, ward=w2)
    book(s2, p1)
    r7 = book(s2, p7)
    book(s2, p8, Status.CANCELLED)
    held_session(a, at(2024, 7, 1), capacity=12, status=Session.Status.CANCELLED)
    later = held_session(a, at(2025, 5, 1), capacity=10)
    book(later, p1)

    t1 = held_session(b, at(2024, 5, 20), capacity=6, ward=w1)
    book(t1, p1)
    r9 = book(t1, p9)
    book(t1, p10, Status.NO_SHOW)

    # Skills: A's pairs are 0→2, 1→2 (p1) and 1→1 (p2): gains 2, 1, 0. B's: 0→3. p7 answered after only.
    assess(r1, SelfAssessment.Kind.PRE, {1: 0, 2: 1})
    assess(r1, SelfAssessment.Kind.POST, {1: 2, 2: 2})
    assess(r2, SelfAssessment.Kind.PRE, {1: 1})
    assess(r2, SelfAssessment.Kind.POST, {1: 1})
    assess(r7, SelfAssessment.Kind.POST, {1: 2})
    assess(r9, SelfAssessment.Kind.PRE, {1: 0})
    assess(r9, SelfAssessment.Kind.POST, {1: 3})
    return {"a": a, "b": b, "w1": w1, "w2": w2}


def year(**fields):
    return metrics.Filters(fiscal_year=FY, **fields)


# --- The service: figures worked out by hand -------------------------------------------------------------------

def test_partner_report_figures(programme):
    report = reports.partner_report(programme["a"], year())
    figures = report.figures
    assert (figures.sessions_held, figures.sessions_cancelled, figures.seats_offered) == (2, 1, 18)
    assert figures.registrations == 8  # advance bookings whatever became of them (walk-in not included)
    assert (figures.attendances, figures.walk_ins, figures.unique_participants) == (5, 1, 4)
    assert figures.participants_65_plus == 3  # p1, p2, p5 (p7 is 60–64)
    assert figures.attendance_rate == 66.7  # 4 attended of 6 seated bookings
    assert figures.no_show_rate == 16.7
    assert (report.row.mean_skills_gain, report.row.skill_pairs) == (1.0, 3)


def test_partner_report_people_by_band_and_ward(programme):
    report = reports.partner_report(programme["a"], year())

    def table(matrix):
        return {row[0]: row[1:] for row in matrix.body()}

    decade = {key: (report.by_decade.value(key, "attendances"), report.by_decade.value(key, "participants"))
              for key in ("60-69", "70-79", "80+", "u20", reports.TOTAL)}
    assert decade == {"60-69": (1, 1), "70-79": (2, 1), "80+": (2, 2), "u20": (0, 0), reports.TOTAL: (5, 4)}
    elderly = {key: (report.by_elderly.value(key, "attendances"), report.by_elderly.value(key, "participants"))
               for key in ("u65", "65-74", "75+", bands.NOT_GIVEN, reports.TOTAL)}
    assert elderly == {"u65": (1, 1), "65-74": (2, 1), "75+": (2, 2), bands.NOT_GIVEN: (0, 0),
                       reports.TOTAL: (5, 4)}
    wards = {key: (report.by_ward.value(key, "attendances"), report.by_ward.value(key, "participants"))
             for key in (str(programme["w1"].pk), str(programme["w2"].pk), "", reports.TOTAL)}
    assert wards == {str(programme["w1"].pk): (2, 1), str(programme["w2"].pk): (2, 2), "": (1, 1),
                     reports.TOTAL: (5, 4)}
    assert table(report.by_ward)[str(report.by_ward.rows[-1][1])] == [5, 4]


def test_partner_report_sessions_held(programme):
    lines = reports.partner_report(programme["a"], year()).sessions
    assert [(line.starts_at.date(), line.capacity, line.attended) for line in lines] == [
        (dt.date(2024, 5, 10), 10, 3), (dt.date(2024, 6, 14), 8, 2)]
    assert lines[0].instructors == ["Taro Yamada"] and lines[0].assistants == ["Hana Sato"]
    assert lines[1].instructors == [] and lines[1].starts_at.strftime("%H:%M") == "10:00"


def test_partner_report_for_one_month(programme):
    report = reports.partner_report(programme["a"], year(month=6))
    assert (report.figures.sessions_held, report.figures.attendances, report.figures.unique_participants) == (1, 2, 2)
    assert [line.capacity for line in report.sessions] == [8]
    assert report.row.skill_pairs == 0 and report.row.mean_skills_gain is None


def test_skills_gain_is_the_mean_of_every_pair_of_metrics_skills(programme):
    rows = metrics.skills(year(partner=programme["a"].pk))
    pairs = sum(row.pairs for row in rows)
    weighted = sum(row.mean_gain * row.pairs for row in rows if row.pairs) / pairs
    assert reports.mean_skills_gain(year(partner=programme["a"].pk)) == (round(weighted, 2), pairs)


def test_comparison_figures(programme):
    comparison = reports.partner_comparison(year())
    rows = {row.name: row for row in comparison.rows}
    a, b = rows["NPO法人あおば"], rows["ICT事業者みどり"]
    assert [a.sessions_held, a.seats_offered, a.attendances, a.unique_participants, a.participants_65_plus,
            a.attendance_rate, a.mean_skills_gain] == [2, 18, 5, 4, 3, 66.7, 1.0]
    assert [b.sessions_held, b.seats_offered, b.attendances, b.unique_participants, b.participants_65_plus,
            b.attendance_rate, b.mean_skills_gain] == [1, 6, 2, 2, 2, 66.7, 3.0]
    total = comparison.total
    # p1 attended both partners: counted once in the whole programme.
    assert [total.sessions_held, total.seats_offered, total.attendances, total.unique_participants,
            total.participants_65_plus, total.mean_skills_gain] == [3, 24, 7, 5, 4, 1.5]


@pytest.mark.parametrize("month", [None, 5, 6])
def test_comparison_equals_each_partner_report(programme, month):
    comparison = reports.partner_comparison(year(month=month))
    assert {row.partner_id for row in comparison.rows} >= {programme["a"].pk, programme["b"].pk}
    for row in comparison.rows:
        if row.partner_id not in (programme["a"].pk, programme["b"].pk):
            continue
        single = reports.partner_report(programme[("a" if row.partner_id == programme["a"].pk else "b")],
                                        year(month=month)).row
        assert row.cells()[1:] == single.cells()[1:]
        assert (row.sessions_cancelled, row.registrations) == (single.sessions_cancelled, single.registrations)


def test_comparison_for_partner_staff_is_limited_to_their_scope(programme):
    comparison = reports.partner_comparison(year(scope=frozenset({programme["b"].pk})))
    assert [row.partner_id for row in comparison.rows] == [programme["b"].pk]
    assert comparison.total.attendances == 2 and comparison.total.unique_participants == 2


def add_partners_with_sessions(count):
    for n in range(count):
        partner = factories.partner()
        session = held_session(partner, at(2024, 9, 1 + n))
        book(session, person("70-74"))


@pytest.mark.parametrize("count", [2, 5])
def test_comparison_query_count_does_not_depend_on_the_partners(site, django_assert_num_queries, count):
    add_partners_with_sessions(count)
    # Sessions, people and skills grouped by organiser, the partners, and the three totals.
    with django_assert_num_queries(7):
        comparison = reports.partner_comparison(year())
    assert len(comparison.rows) == count


@pytest.mark.parametrize("count", [2, 5])
def test_session_list_query_count_does_not_depend_on_the_sessions(site, django_assert_num_queries, count):
    partner = factories.partner()
    for n in range(count):
        session = held_session(partner, at(2024, 9, 1 + n))
        book(session, person("70-74"))
        SessionStaff.objects.create(session=session, user=get_user_model().objects.create_user(f"i{n}"))
    with django_assert_num_queries(2):  # the sessions with their course, venue and counts; their staff
        lines = reports.held_sessions(year(partner=partner.pk))
    assert len(lines) == count and all(len(line.instructors) == 1 for line in lines)


def test_partner_view_query_count_does_not_depend_on_the_partners(client, site):
    officer = staff("officer", roles.CITY_PROGRAMME_OFFICER)
    client.force_login(officer)
    counts = []
    for extra in (2, 3):  # 2 partners, then 5
        add_partners_with_sessions(extra)
        client.get(f"{PARTNERS}?fiscal_year={FY}")  # warm the per-process caches (settings, content types)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"{PARTNERS}?fiscal_year={FY}").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_annual_report_figures(programme):
    KpiTarget.objects.create(fiscal_year=FY, metric=KpiTarget.Metric.ATTENDANCES, target=70)
    report = reports.annual_report(year(), today=dt.date(2024, 10, 1))
    assert report.figures.attendances == 7 and report.figures.unique_participants == 5
    [kpi] = report.kpis
    assert (kpi.actual, kpi.progress, kpi.elapsed) == (7, 10.0, round(100 * 183 / 365, 1))
    monthly = report.board.monthly
    assert monthly.value("5", str(FY)) == 5 and monthly.value("6", str(FY)) == 2
    assert len(report.comparison.rows) == 2


# --- The views -------------------------------------------------------------------------------------------------

def test_partner_report_page(client, programme):
    client.force_login(staff("officer", roles.CITY_PROGRAMME_OFFICER))
    response = client.get(f"{PARTNERS}?fiscal_year={FY}&partner={programme['a'].pk}")
    assert response.status_code == 200
    report = response.context["report"]
    assert report.partner == programme["a"] and report.figures.attendances == 5
    body = response.content.decode()
    assert "Taro Yamada" in body and "Hana Sato" in body and "2024-05-10" in body
    assert "Partners side by side" in body  # city staff also compare every partner
    assert response.context["comparison"] is not None


def test_city_staff_without_a_partner_get_the_comparison_only(client, programme):
    client.force_login(staff("analyst", roles.CITY_ANALYST))
    response = client.get(f"{PARTNERS}?fiscal_year={FY}")
    assert response.status_code == 200 and response.context["report"] is None
    rows = {row.partner_id: row for row in response.context["comparison"].rows}
    assert rows[programme["a"].pk].attendances == 5 and rows[programme["b"].pk].attendances == 2


def test_partner_manager_sees_only_their_own_partner(client, programme):
    client.force_login(staff("manager-b", roles.PARTNER_MANAGER, partner=programme["b"]))
    response = client.get(f"{PARTNERS}?fiscal_year={FY}")
    assert response.status_code == 200
    assert response.context["report"].partner == programme["b"]
    assert response.context["comparison"] is None
    body = response.content.decode()
    assert "NPO法人あおば" not in body and "Aoba" not in body and "Taro Yamada" not in body
    assert [partner.pk for partner in response.context["form"].fields["partner"].queryset] == [programme["b"].pk]
    # Asking for partner A: 404 on the page and on every download.
    a = programme["a"].pk
    assert client.get(f"{PARTNERS}?fiscal_year={FY}&partner={a}").status_code == 404
    assert client.get(f"{PARTNERS}?fiscal_year={FY}&partner=x").status_code == 404
    for fmt in ("csv", "xlsx"):
        assert client.get(f"{PARTNERS}report.{fmt}?fiscal_year={FY}&partner={a}").status_code == 404
        response = client.get(f"{PARTNERS}comparison.{fmt}?fiscal_year={FY}")
        assert response.status_code in (302, 403) and "attachment" not in response.get("Content-Disposition", "")
    assert not ModelLogEntry.objects.filter(action=reports.LOG_ACTION_EXPORTED).exists()


def test_partner_manager_download_is_their_own_partner(client, programme):
    client.force_login(staff("manager-b", roles.PARTNER_MANAGER, partner=programme["b"]))
    response = client.get(f"{PARTNERS}report.csv?fiscal_year={FY}")
    assert response.status_code == 200
    text = response.content.decode("utf-8-sig")
    assert "Midori" in text and "Aoba" not in text and "あおば" not in text and "Taro Yamada" not in text


def test_partner_manager_annual_report_is_scoped(client, programme):
    client.force_login(staff("manager-b", roles.PARTNER_MANAGER, partner=programme["b"]))
    response = client.get(f"{ANNUAL}?fiscal_year={FY}")
    assert response.status_code == 200
    report = response.context["report"]
    assert report.figures.attendances == 2 and report.kpis == [] and response.context["consultation_tables"] == []
    assert [row.partner_id for row in report.comparison.rows] == [programme["b"].pk]
    assert "NPO法人あおば" not in response.content.decode()


@pytest.mark.parametrize("address", [ANNUAL, PARTNERS, f"{PARTNERS}report.csv", f"{PARTNERS}comparison.xlsx"])
def test_anonymous_users_are_sent_to_log_in(client, site, address):
    response = client.get(f"{address}?fiscal_year={FY}")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize("address", [ANNUAL, PARTNERS, f"{PARTNERS}report.csv", f"{PARTNERS}comparison.xlsx"])
def test_instructors_without_the_dashboard_permission_are_refused(client, programme, address):
    client.force_login(staff("instructor", roles.PARTNER_INSTRUCTOR, partner=programme["a"], role="instructor"))
    response = client.get(f"{address}?fiscal_year={FY}&partner={programme['a'].pk}")
    assert response.status_code in (302, 403)
    assert "/admin/login/" not in response.get("Location", "")
    assert "attachment" not in response.get("Content-Disposition", "")


def test_partner_report_csv_download_is_logged(client, programme):
    officer = staff("officer", roles.CITY_PROGRAMME_OFFICER)
    client.force_login(officer)
    response = client.get(f"{PARTNERS}report.csv?fiscal_year={FY}&partner={programme['a'].pk}")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert f'filename="dekiru-partner-report-{programme["a"].pk}-FY{FY}.csv"' in response["Content-Disposition"]
    assert response.content.startswith("\ufeff".encode())
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert ["Attendances (walk-ins included)", "5"] in lines and ["Unique participants", "4"] in lines
    assert any(line[:2] == ["2024-05-10", "10:00"] and line[4:8] == ["10", "3", "Taro Yamada", "Hana Sato"]
               for line in lines)
    entry = ModelLogEntry.objects.get(action=reports.LOG_ACTION_EXPORTED)
    assert entry.user_id == officer.pk and entry.object_id == str(programme["a"].pk)
    assert entry.data["format"] == "csv" and entry.data["fiscal_year"] == FY


def test_partner_report_xlsx_for_one_month(client, programme):
    client.force_login(staff("officer", roles.CITY_PROGRAMME_OFFICER))
    response = client.get(f"{PARTNERS}report.xlsx?fiscal_year={FY}&month=6&partner={programme['a'].pk}")
    assert response.status_code == 200
    assert f"FY{FY}-06.xlsx" in response["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert len(book.sheetnames) == 6
    summary = {row[0]: row[1] for row in book.worksheets[0].iter_rows(values_only=True)}
    assert summary["Sessions held"] == 1 and summary["Attendances (walk-ins included)"] == 2
    sessions = list(book.worksheets[4].iter_rows(values_only=True))
    assert len(sessions) == 2 and sessions[1][0] == "2024-06-14"


def test_comparison_download(client, programme):
    officer = staff("officer", roles.CITY_PROGRAMME_OFFICER)
    client.force_login(officer)
    response = client.get(f"{PARTNERS}comparison.xlsx?fiscal_year={FY}")
    assert response.status_code == 200
    rows = list(openpyxl.load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    by_name = {row[0]: row[1:] for row in rows[1:]}
    assert by_name["Aoba"] == (2, 18, 5, 4, 3, 66.7, 1)  # names in the user's language
    assert by_name["Midori"] == (1, 6, 2, 2, 2, 66.7, 3)
    assert by_name["Whole programme"][:4] == (3, 24, 7, 5)
    entry = ModelLogEntry.objects.get(action=reports.LOG_ACTION_EXPORTED)
    assert entry.user_id == officer.pk and entry.data["report"] == "partner_comparison"
    assert client.get(f"{PARTNERS}comparison.pdf?fiscal_year={FY}").status_code == 404


def test_formula_like_text_is_escaped_in_downloads(client, site):
    partner = factories.partner(name="=HYPERLINK(1)", name_en="=HYPERLINK(1)")
    book(held_session(partner, at(2024, 9, 1)), person("70-74"))
    client.force_login(staff("officer", roles.CITY_PROGRAMME_OFFICER))
    text = client.get(f"{PARTNERS}comparison.csv?fiscal_year={FY}").content.decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in text


def test_annual_report_page(client, programme):
    KpiTarget.objects.create(fiscal_year=FY, metric=KpiTarget.Metric.ATTENDANCES, target=70)
    client.force_login(staff("officer", roles.CITY_PROGRAMME_OFFICER))
    response = client.get(f"{ANNUAL}?fiscal_year={FY}")
    assert response.status_code == 200
    body = response.content.decode()
    assert "annual report FY2024" in body and "Key performance indicators" in body
    assert "Generated on" in body and "Partners side by side" in body
    assert response.context["report"].figures.attendances == 7


def test_annual_report_has_a_print_stylesheet(client, site):
    client.force_login(staff("officer", roles.CITY_PROGRAMME_OFFICER))
    body = client.get(f"{ANNUAL}?fiscal_year={FY}").content.decode()
    assert '<style media="print">' in body
    print_css = body.split('<style media="print">', 1)[1].split("</style>", 1)[0]
    assert "size: A4 portrait" in print_css
    assert "#wagtail-sidebar" in print_css and "display: none" in print_css
    assert "display: table-header-group" in print_css and "break-inside: avoid" in print_css
    assert "data-report-print" in body  # the Print button, shown by script


def test_annual_report_shows_the_municipality(client, site):
    from cms.models import MunicipalitySettings

    settings = MunicipalitySettings.load()
    settings.name, settings.name_en = "テスト市", "Test City"
    settings.save()
    client.force_login(staff("officer", roles.CITY_PROGRAMME_OFFICER))
    body = client.get(f"{ANNUAL}?fiscal_year={FY}").content.decode()
    assert "Test City: digital skills programme, annual report FY2024" in body


def test_annual_report_for_a_year_without_data(client, site):
    client.force_login(staff("officer", roles.CITY_PROGRAMME_OFFICER))
    response = client.get(f"{ANNUAL}?fiscal_year=2019")
    assert response.status_code == 200
    body = response.content.decode()
    assert "No sessions, registrations or consultations were recorded for FY2019." in body
    assert "No KPI targets have been set for FY2019." in body
    assert "No attendances in this fiscal year." in body
    assert response.context["fiscal_year"] == 2019


def test_partner_report_for_a_period_without_data(client, programme):
    client.force_login(staff("manager-a", roles.PARTNER_MANAGER, partner=programme["a"]))
    response = client.get(f"{PARTNERS}?fiscal_year=2019")
    assert response.status_code == 200
    assert "No sessions were held in this period." in response.content.decode()


def test_japanese_by_default(client, site):
    client.force_login(staff("officer", roles.CITY_PROGRAMME_OFFICER, language="ja"))
    assert client.get(f"{ANNUAL}?fiscal_year={FY}").status_code == 200
    assert client.get(f"{PARTNERS}?fiscal_year={FY}").status_code == 200


def test_annual_report_charts_are_the_dashboards(client, programme):
    client.force_login(staff("officer", roles.CITY_PROGRAMME_OFFICER))
    response = client.get(f"{ANNUAL}?fiscal_year={FY}")
    charts = response.context["charts"]
    assert set(charts) == {"monthly", "attendance_ward", "reach", "skills", "gap"}
    monthly = charts["monthly"]
    assert monthly["src"] == f"/admin/outreach/charts/monthly.png?fiscal_year={FY}&rollup=decade"
    assert monthly["matrix"].value("5", str(FY)) == 5 and monthly["alt"]
    body = response.content.decode()
    assert f'src="{monthly["src"].replace("&", "&amp;")}"' in body and 'loading="lazy"' not in body
    image = client.get(monthly["src"])
    assert image.status_code == 200 and image["Content-Type"] == "image/png"


def test_annual_report_without_data_has_tables_but_no_images(client, site):
    client.force_login(staff("officer", roles.CITY_PROGRAMME_OFFICER))
    response = client.get(f"{ANNUAL}?fiscal_year=2019")
    assert all("src" not in chart for chart in response.context["charts"].values())
    assert "/admin/outreach/charts/" not in response.content.decode()


def test_partner_report_page_query_count_does_not_depend_on_sessions_or_partners(client, site):
    client.force_login(staff("officer", roles.CITY_PROGRAMME_OFFICER))
    partner = factories.partner()
    address = f"{PARTNERS}?fiscal_year={FY}&partner={partner.pk}"
    counts = []
    for first, extra in ((0, 2), (2, 3)):  # 2 sessions and 2 other partners, then 5 and 5
        for n in range(first, first + extra):
            session = held_session(partner, at(2024, 9, 1 + n))
            book(session, person("70-74"))
            SessionStaff.objects.create(session=session, user=get_user_model().objects.create_user(f"i{n}"))
        add_partners_with_sessions(extra)
        client.get(address)  # warm the per-process caches (settings, content types)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(address)
        assert len(response.context["report"].sessions) == first + extra
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_menu_items_for_dashboard_users_only(client, programme):
    client.force_login(staff("officer", roles.CITY_PROGRAMME_OFFICER))
    body = client.get("/admin/").content.decode()
    assert ANNUAL in body and PARTNERS in body
    client.force_login(staff("instructor", roles.PARTNER_INSTRUCTOR, partner=programme["a"], role="instructor"))
    body = client.get("/admin/").content.decode()
    assert ANNUAL not in body and PARTNERS not in body


# --- Issue 19: the annual report reads the summaries like the dashboard, and its headings say what they are ----

# Queries of the annual report page, city-wide, on fresh summaries (session and user, permissions, the form's
# years, the dashboard's figures from outreach.summaries with their freshness look-ups, the partners and their
# PartnerSummary rows, the programme's skills gain, menus). The figures are aggregates: it must not grow with
# the rows, nor with the partners.
ANNUAL_QUERIES = 64  # 13 of them the outcomes a month later (outreach.followups, pinned there)


def refresh_summaries():
    from outreach import summary_refresh

    refresh = summary_refresh.refresh(FY)
    metrics.refresh_partner_summaries(FY, refresh.as_of)  # what summary_refresh.refresh() is to call
    return refresh


def test_comparison_from_the_summaries_equals_the_raw_rows(programme):
    refresh = refresh_summaries()
    figures = metrics.summary(year())
    assert figures.as_of == refresh.as_of  # read from the summaries
    summarised = reports.partner_comparison(year(), figures=figures)
    raw = reports.partner_comparison(year(), now=refresh.as_of)
    assert summarised.body() == raw.body()
    assert summarised.total.skill_pairs == raw.total.skill_pairs
    report = reports.annual_report(year())
    assert report.comparison.body() == raw.body()


def test_comparison_from_stale_partner_summaries_is_counted_on_the_raw_rows(programme):
    refresh_summaries()
    from outreach.summaries import PartnerSummary

    PartnerSummary.objects.update(attendances=999)  # as if from an earlier refresh: a different moment
    PartnerSummary.objects.update(as_of=timezone.now() - dt.timedelta(days=1))
    assert 999 not in [row.attendances for row in reports.annual_report(year()).comparison.rows]


def test_annual_report_query_count_does_not_grow_with_the_data(client, programme):
    client.force_login(staff("officer", roles.CITY_PROGRAMME_OFFICER))
    address = f"{ANNUAL}?fiscal_year={FY}"
    counts = []
    for extra in (0, 3):
        for n in range(extra):
            session = held_session(programme["a"], at(2024, 10, 1 + n))
            book(session, person("75-79"))
        add_partners_with_sessions(extra)
        refresh_summaries()
        client.get(address)  # warm the per-process caches (settings, content types)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(address).status_code == 200
        counts.append(len(queries))
    assert counts == [ANNUAL_QUERIES, ANNUAL_QUERIES], counts


def test_headline_table_headings_say_what_each_column_is(client, programme):
    client.force_login(staff("officer", roles.CITY_PROGRAMME_OFFICER, language="ja"))
    response = client.get(f"{ANNUAL}?fiscal_year={FY}")
    summary = response.context["summary"]
    assert summary.header() == ["項目", "2024年度"]
    body = response.content.decode()
    assert "<th scope=\"col\">数値</th>" not in body
    client.force_login(staff("officer-en", roles.CITY_PROGRAMME_OFFICER))
    assert client.get(f"{ANNUAL}?fiscal_year={FY}").context["summary"].header() == ["Item", "FY2024"]
