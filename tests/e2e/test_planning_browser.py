"""The planning view in Chromium (issue 21's "done when"): a city programme officer signs in, opens the planning
page, asks for next quarter's plan with their own number of sessions and a heavier weight on residents aged 75 and
over, reads why the first row was chosen (the numbers behind it, which are the model's own), opens the explanation
of the model, downloads the plan as CSV (the same rows), and axe finds no WCAG 2.2 AA violation on the page's
content, before and after the plan is made. A small city built with the factories, relative to today.
Skipped where Chromium is absent (tests/conftest.py)."""

import csv
import importlib
import io
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import translation
from wagtail.users.models import UserProfile

from cms import roles
from cms.i18n import localized
from courses.models import Registration, Topic
from outreach import metrics, planning
from outreach.admin.planning import PlanningForm
from outreach.models import InternetUsageRate, PopulationFigure
from partners.models import Ward
from tests import factories
from tests.e2e.conftest import DESKTOP, admin_login
from tests.e2e.test_accessibility import AXE_TAGS, format_violations

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.clock]

PASSWORD = "planning-1"
PAGE = "/admin/outreach/planning/"
INPUTS = {"sessions": "4", "partner_sessions": "4", "instructors": "6", "weight_75_plus": "2"}


@pytest.fixture
def officer(site):
    # Transactional tests flush the database, groups and their permissions included: set the roles up again.
    importlib.import_module("cms.migrations.0008_outreach_permissions").grant(apps, None)
    user = get_user_model().objects.create_user(username="officer", password=PASSWORD)
    user.groups.add(Group.objects.get(name=roles.CITY_PROGRAMME_OFFICER))
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = "en"
    profile.save()
    return user


@pytest.fixture
def city(site, settings):
    """Two wards with population and usage figures of this fiscal year, a partner with a venue in each, two topics,
    and classes held last week: in the first ward 8 first-timers aged 65–74 and 2 aged 75+ on Basics (10
    attendances, enough history at the threshold of 5 for the ward's own share); in the second 3 aged 75+ on Maps."""
    settings.DEKIRU_PLANNING_MIN_HISTORY = 5
    first, second = list(Ward.objects.order_by("sort_order", "code")[:2])
    year = metrics.fiscal_year_of(metrics.municipal_today())
    PopulationFigure.objects.bulk_create([
        PopulationFigure(year=year, ward=first, age_band="70-74", population=3000),
        PopulationFigure(year=year, ward=first, age_band="75-79", population=2000),
        PopulationFigure(year=year, ward=second, age_band="65-69", population=2500),
        PopulationFigure(year=year, ward=second, age_band="80-84", population=1500)])
    InternetUsageRate.objects.bulk_create([
        InternetUsageRate(year=year, age_band="60-69", rate="84.4"),
        InternetUsageRate(year=year, age_band="70-79", rate="59.4"),
        InternetUsageRate(year=year, age_band="80+", rate="27.6")])
    partner = factories.partner(name="NPO法人けいかく", name_en="Keikaku NPO")
    basics = Topic.objects.create(name="基本操作", name_en="Basics", slug="plan-basics")
    maps = Topic.objects.create(name="地図", name_en="Maps", slug="plan-maps")
    courses = {}
    for topic in (basics, maps):
        course = courses[topic] = factories.course(owner=partner)
        course.topics.add(topic)
        course.save_revision().publish()
    venues = {ward: factories.venue(ward=ward, partner=partner, capacity=20) for ward in (first, second)}

    def held(ward, topic, bands):
        session = factories.session(course_page=courses[topic], organiser=partner, venue=venues[ward], capacity=12,
                                    starts_in=-timedelta(days=7), duration=timedelta(hours=2))
        for band in bands:
            factories.registration(session_obj=session, status=Registration.Status.ATTENDED,
                                   participant=factories.participant(age_band=band, ward=ward))

    held(first, basics, ["70-74"] * 8 + ["75-79"] * 2)
    held(second, maps, ["80-84"] * 3)
    return {"first": first, "second": second, "courses": {topic.name_en: course for topic, course in courses.items()},
            "venues": {ward.pk: venue for ward, venue in venues.items()}}


def run_axe_on(page, axe_source, selector: str) -> list[dict]:
    """axe-core on the planning content only (Wagtail's own admin chrome is not Dekiru's to fix)."""
    page.add_script_tag(path=str(axe_source))
    return page.evaluate(
        """async ([selector, tags]) => {
            const results = await axe.run({include: [selector]}, {runOnly: {type: "tag", values: tags},
                                                                 resultTypes: ["violations"]});
            return results.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                nodes: v.nodes.map(n => ({target: n.target.join(" "), html: n.html,
                                          summary: n.failureSummary}))}));
        }""",
        [selector, AXE_TAGS])


def test_officer_makes_next_quarters_plan_reads_why_and_downloads_it(live_server, open_page, axe_source, officer,
                                                                    city):
    page = open_page(viewport=DESKTOP, lang="en")
    admin_login(page, live_server, "officer", PASSWORD)
    page.goto(live_server.url + PAGE)
    assert page.locator("h1").inner_text().strip() == "Planning the next classes"
    violations = run_axe_on(page, axe_source, ".dekiru-planning")
    assert not violations, format_violations("planning page (defaults)", violations)

    # Next quarter (the form's default first month and 3 months): 4 sessions, the partner can give 4 a month and 6
    # instructors are free (the defaults from one class a month would allow one a month), residents aged 75 and over
    # count double.
    assert page.locator("#id_months").get_attribute("placeholder") == "3"
    for field, value in INPUTS.items():
        page.fill(f"#id_{field}", value)
    with page.expect_navigation():
        page.locator("form.dekiru-filters button[type=submit]").click()
    assert "sessions=4" in page.url and "weight_75_plus=2" in page.url
    summary = page.locator(".dekiru-plan-summary").inner_text()
    assert "4 of 4 sessions placed." in summary

    # The plan the model makes of the same figures and inputs: the page shows its rows and their numbers.
    data = planning.planning_data()
    form = PlanningForm(INPUTS, defaults=data.defaults, today=metrics.municipal_today())
    assert form.is_valid(), form.errors
    plan = planning.make_plan(data, form.inputs())
    assert [m.strftime("%Y-%m") for m in plan.inputs.months] == [
        m.strftime("%Y-%m") for m in planning.next_months(metrics.municipal_today(), 3)]
    rows = page.locator("#plan-table tbody tr")
    assert rows.count() == len(plan.rows) > 0
    expected = plan.rows[0]
    cells = [rows.first.locator("th, td").nth(index).inner_text().strip() for index in range(12)]
    # Why: the expected new residents by age band, the share of first-timers it rests on and where that share
    # comes from, and how many are left to reach in the ward.
    with translation.override("en"):
        why = [f"{cell['label']}: {cell['share']:.1f}%" for cell in expected.by_group]
        basis = expected.basis_label
        names = [[row.month.strftime("%Y-%m"), localized(row.ward, "name"), localized(row.topic, "name"),
                  str(row.sessions)] for row in plan.rows]
    assert cells[:4] == names[0]
    assert cells[5].splitlines() == why
    assert cells[6].startswith(basis)
    assert basis == "this ward and topic" or expected.topic.name_en != "Basics"
    assert "Not yet reached" in page.locator("#plan-table thead").inner_text()
    # And who could hold it: a course on the topic, a venue of the ward, the partner that runs classes there.
    with translation.override("en"):
        who = [f"Course: {localized(city['courses'][expected.topic.name_en], 'title')}",
               f"Venue: {localized(city['venues'][expected.ward.pk], 'name')}", "Partner: Keikaku NPO"]
    assert cells[10] == str(expected.consultations)
    assert cells[11].splitlines() == who
    page.locator("#planning-model summary").click()
    assert page.locator("#planning-model").get_attribute("open") is not None
    assert "fewer than 5 past attendances" in page.locator("#planning-model").inner_text()

    # The plan as CSV, for the partners: the same rows.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="CSV").first.click()
    download = download_info.value
    assert download.suggested_filename == f"dekiru-plan-{plan.inputs.months[0]:%Y-%m}.csv"
    with open(download.path(), encoding="utf-8-sig") as handle:
        lines = list(csv.reader(io.StringIO(handle.read())))
    assert lines[0][:4] == ["Month", "Ward", "Topic", "Sessions"]
    assert [line[:4] for line in lines[1:]] == names

    violations = run_axe_on(page, axe_source, ".dekiru-planning")
    assert not violations, format_violations("planning page (plan made)", violations)
