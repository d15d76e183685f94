"""The planning view (outreach.planning, outreach.admin.planning): the model's figures on a small world derived by
hand, the integer programme against brute force and the greedy, capacities, the city-wide fallback of the shares,
the page for city staff in both languages (403 for partner staff), the exports, bad input, the query budget, and the
solve time at a realistic size."""

import csv
import io
import itertools
import random
import re
import time
from datetime import timedelta

import openpyxl
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from wagtail.models import ModelLogEntry
from wagtail.users.models import UserProfile

from courses.models import Registration, Topic
from outreach import metrics, planning
from outreach.admin.planning import EXPORT_LOG_ACTION
from outreach.models import Consultation, ConsultationTopic, InternetUsageRate, PopulationFigure
from partners.models import Ward
from partners.services import add_membership
from tests import factories

PAGE = "/admin/outreach/planning/"
G1, G2 = "65-74", "75+"
# Queries of one planning page: session, user, groups and permissions, the figures (wards, topics, population year,
# usage rates, population, reach, consultations per ward and per topic, ward × topic history, full sessions, venues,
# partners, the form's defaults), who could hold the rows (planning_drafts: 5 here, at most 7) and the admin's menus.
# All aggregates: the number must not grow with the rows.
PAGE_QUERIES = 33


# --- The optimisation on plain data -------------------------------------------------------------------------------


def problem(cells, remaining, *, months=("m1",), ward_cap=None, month_cap=None, sessions=1, weights=None):
    wards = {ward for ward, _topic in cells}
    return planning.Problem(
        cells=cells, remaining=remaining, weights=weights or {G1: 1.0, G2: 1.0}, months=list(months),
        ward_month_capacity=ward_cap or {(ward, month): 100 for ward in wards for month in months},
        month_capacity=month_cap or dict.fromkeys(months, 100), sessions=sessions)


def brute_force(p: planning.Problem) -> float:
    """The best objective over every allocation of at most N sessions (small cases only)."""
    slots = [(ward, topic, month) for ward, topic in sorted(p.cells) for month in p.months]
    best = 0.0
    for total in range(p.sessions + 1):
        for combo in itertools.combinations_with_replacement(slots, total):
            counts = {}
            for slot in combo:
                counts[slot] = counts.get(slot, 0) + 1
            if planning.is_feasible(p, counts):
                best = max(best, planning.objective(p, counts))
    return best


def test_hand_checked_case_ip_and_greedy_agree():
    """Ward A: topic 1 brings 6 new 65–74 residents a session, topic 2 brings 2.5 of each group; 6 (65–74) and 3 (75+)
    are left to reach; two sessions. Topic 1 + topic 2: 65–74 min(6 + 2.5, 6) = 6, 75+ 2.5 → 8.5. Twice topic 2:
    min(5, 6) + min(5, 3) = 8. Twice topic 1: 6. So 8.5, and the greedy finds it (6 first, then 2.5)."""
    p = problem({("A", "1"): {G1: 6.0, G2: 0.0}, ("A", "2"): {G1: 2.5, G2: 2.5}}, {("A", G1): 6.0, ("A", G2): 3.0},
                sessions=2)
    ip, greedy = planning.solve_ip(p), planning.solve_greedy(p)
    assert ip.objective == pytest.approx(8.5)
    assert greedy.objective == pytest.approx(8.5)
    assert ip.counts == {("A", "1", "m1"): 1, ("A", "2", "m1"): 1} == greedy.counts
    assert brute_force(p) == pytest.approx(8.5)


def test_the_greedy_can_be_beaten():
    """Ward A (10 a session, only 10 left) has room in both months, ward B (9 a session, many left) only in the first;
    one session a month city-wide. The greedy puts A in the first month (most room, then earliest) and B has nowhere
    to go: 10. The optimum puts A in the second month and B in the first: 19."""
    p = problem({("A", "t"): {G1: 10.0}, ("B", "t"): {G1: 9.0}}, {("A", G1): 10.0, ("B", G1): 100.0},
                months=("m1", "m2"), ward_cap={("A", "m1"): 1, ("A", "m2"): 1, ("B", "m1"): 1, ("B", "m2"): 0},
                month_cap={"m1": 1, "m2": 1}, sessions=2)
    ip, greedy = planning.solve_ip(p), planning.solve_greedy(p)
    assert greedy.objective == pytest.approx(10)
    assert ip.objective == pytest.approx(19) == pytest.approx(brute_force(p))
    assert ip.counts == {("A", "t", "m2"): 1, ("B", "t", "m1"): 1}


def test_the_cap_makes_returns_diminishing_and_useless_sessions_are_left_out():
    """3 new residents a session but only 5 left to reach: two sessions reach 5 (3 + 2), a third adds nothing and is
    not placed."""
    p = problem({("A", "t"): {G1: 3.0, G2: 0.0}}, {("A", G1): 5.0, ("A", G2): 0.0}, sessions=3)
    for solution in (planning.solve_ip(p), planning.solve_greedy(p)):
        assert solution.objective == pytest.approx(5)
        assert solution.sessions == 2


def test_weights_choose_between_the_groups():
    """One session: topic 1 reaches 4 aged 65–74, topic 2 reaches 3 aged 75+. Equal weights: topic 1; 75+ weighted 2:
    topic 2 (6 > 4)."""
    cells = {("A", "1"): {G1: 4.0, G2: 0.0}, ("A", "2"): {G1: 0.0, G2: 3.0}}
    remaining = {("A", G1): 50.0, ("A", G2): 50.0}
    assert planning.solve_ip(problem(cells, remaining)).counts == {("A", "1", "m1"): 1}
    weighted = problem(cells, remaining, weights={G1: 1.0, G2: 2.0})
    assert planning.solve_ip(weighted).counts == {("A", "2", "m1"): 1}
    assert planning.solve_ip(weighted).objective == pytest.approx(6)


def random_problem(rng, wards, topics, months, sessions):
    cells = {(f"w{w}", f"t{t}"): {G1: round(rng.uniform(0, 4), 2), G2: round(rng.uniform(0, 2), 2)}
             for w in range(wards) for t in range(topics)}
    remaining = {(f"w{w}", group): rng.choice([0.0, 2.0, 5.0, 40.0]) for w in range(wards) for group in (G1, G2)}
    month_keys = [f"m{m}" for m in range(months)]
    ward_cap = {(f"w{w}", month): rng.randint(0, 3) for w in range(wards) for month in month_keys}
    month_cap = {month: rng.randint(1, 4) for month in month_keys}
    return planning.Problem(cells=cells, remaining=remaining, weights={G1: 1.0, G2: rng.choice([1.0, 1.5, 3.0])},
                            months=month_keys, ward_month_capacity=ward_cap, month_capacity=month_cap,
                            sessions=sessions)


def test_the_integer_programme_equals_brute_force_and_beats_or_equals_the_greedy():
    rng = random.Random(21)
    for _case in range(25):
        p = random_problem(rng, wards=2, topics=2, months=2, sessions=rng.randint(1, 4))
        ip, greedy = planning.solve_ip(p), planning.solve_greedy(p)
        assert ip.status == "optimal"
        assert ip.objective == pytest.approx(brute_force(p), abs=1e-6)
        assert ip.objective >= greedy.objective - 1e-9


def test_capacities_are_respected():
    rng = random.Random(7)
    for _case in range(10):
        p = random_problem(rng, wards=5, topics=4, months=3, sessions=rng.randint(1, 30))
        for solution in (planning.solve_ip(p), planning.solve_greedy(p)):
            assert planning.is_feasible(p, solution.counts)
            assert solution.sessions <= p.sessions


def test_solve_time_at_a_realistic_size(record_property):
    """18 wards × 10 topics × 3 months, 120 sessions: the figure reported in the closing note."""
    rng = random.Random(2026)
    p = random_problem(rng, wards=18, topics=10, months=3, sessions=120)
    p = planning.Problem(cells=p.cells, remaining={key: rng.uniform(50, 3000) for key in p.remaining},
                         weights=p.weights, months=p.months,
                         ward_month_capacity={key: rng.randint(2, 8) for key in p.ward_month_capacity},
                         month_capacity=dict.fromkeys(p.months, 45), sessions=120)
    started = time.perf_counter()
    ip = planning.solve_ip(p)
    seconds = time.perf_counter() - started
    greedy = planning.solve_greedy(p)
    record_property("ip_seconds", round(seconds, 3))
    record_property("greedy_seconds", round(greedy.seconds, 3))
    assert planning.is_feasible(p, ip.counts)
    assert ip.objective >= greedy.objective - 1e-6
    assert seconds < 20


# --- The figures on a small world --------------------------------------------------------------------------------


def staff(username, group, *, language="en", partner=None):
    user = get_user_model().objects.create_user(username, password="pw")
    user.groups.add(Group.objects.get(name=group))
    if partner:
        add_membership(partner=partner, user=user, role="manager")
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = language
    profile.save()
    return user


def attend(session, people, status=Registration.Status.ATTENDED):
    for person in people:
        factories.registration(session_obj=session, participant=person, status=status)


def people(count, band, ward):
    return [factories.participant(age_band=band, ward=ward) for _ in range(count)]


@pytest.fixture
def world(site):
    """Two wards. Population (the current fiscal year's starting year): first ward 1,000 aged 70–74 and 500 aged
    75–79; second ward 800 aged 65–69. Usage (national survey, same year): 60–69 84.4%, 70–79 59.4%.
    Non-users: first 65–74 1,000 × 0.406 = 406, 75+ 500 × 0.406 = 203; second 65–74 800 × 0.156 = 124.8.

    Topic T, in the first ward: session 1 (capacity 10) attended by 4 people aged 70–74 and 1 aged 75–79 of the first
    ward and 5 aged 50–59, one more left on its waiting list: full (10 seated). Session 2, later: one of the four again
    (not a first time), capacity 5. So the first ward × T: 11 attendances, first-timers 4 (65–74) and 1 (75+).
    In the second ward: session 3 attended by 2 people aged 65–69 of the second ward (2 attendances).
    City-wide T: 13 attendances, first-timers 6 (65–74), 1 (75+).
    Reached: first 65–74 4, 75+ 1; second 65–74 2. A consultation by a first-ward resident aged 75–79, referred."""
    first, second = list(Ward.objects.order_by("sort_order", "code")[:2])
    fiscal_year = metrics.fiscal_year_of(metrics.municipal_today())
    year = metrics.fiscal_year_of(metrics.municipal_today())
    PopulationFigure.objects.bulk_create([
        PopulationFigure(year=year, ward=first, age_band="70-74", population=1000),
        PopulationFigure(year=year, ward=first, age_band="75-79", population=500),
        PopulationFigure(year=year, ward=second, age_band="65-69", population=800),
        PopulationFigure(year=year, ward=second, age_band="40-49", population=5000)])
    InternetUsageRate.objects.bulk_create([
        InternetUsageRate(year=year, age_band="60-69", rate="84.4"),
        InternetUsageRate(year=year, age_band="70-79", rate="59.4"),
        InternetUsageRate(year=year - 2, age_band="70-79", rate="10.0")])  # an older survey: not used
    partner = factories.partner(name="NPO法人プラン", name_en="Plan NPO")
    topic = Topic.objects.create(name="基本操作テスト", name_en="Basics test", slug="basics-test")
    other_topic = Topic.objects.create(name="地図テスト", name_en="Maps test", slug="maps-test")
    course = factories.course(owner=partner)
    course.topics.add(topic)
    course.save_revision().publish()
    first_venue = factories.venue(ward=first, partner=partner, name="第一市民館", capacity=30)
    second_venue = factories.venue(ward=second, name="第二市民館", capacity=20)  # the city's
    now = timezone.now()
    hours = (now - now.replace(minute=0, second=0, microsecond=0)).total_seconds() / 3600

    def held(venue, start_hours_ago, capacity):
        return factories.session(course_page=course, organiser=partner, venue=venue, capacity=capacity,
                                 starts_in=-timedelta(hours=start_hours_ago), duration=timedelta(minutes=30))

    one, two, three = held(first_venue, 3, 10), held(first_venue, 2, 5), held(second_venue, 2, 5)
    young_old = people(4, "70-74", first)
    attend(one, young_old + people(1, "75-79", first) + people(5, "50-59", first))
    attend(one, people(1, "70-74", first), status=Registration.Status.WAITLISTED)
    attend(two, young_old[:1])
    attend(three, people(2, "65-69", second))
    Consultation.objects.create(date=metrics.municipal_today(), place=Consultation.Place.WARD_OFFICE,
                                place_ward=first, residence_ward=first, age_band="75-79",
                                outcome=Consultation.Outcome.REFERRED_CLASS).topics.add(
        ConsultationTopic.objects.first())
    return {"first": first, "second": second, "topic": topic, "other_topic": other_topic, "partner": partner,
            "fiscal_year": fiscal_year, "sessions": (one, two, three), "hours": hours}


def reached_this_year(world, count):
    """Sessions started 2–3 hours ago: all in this fiscal year unless the year began in between."""
    start = metrics.local_midnight(metrics.fiscal_year_bounds(world["fiscal_year"])[0])
    return count if all(session.starts_at >= start for session in world["sessions"]) else None


pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def test_the_figures_of_each_ward_and_age_group(world, settings):
    settings.DEKIRU_PLANNING_MIN_HISTORY = 5
    data = planning.planning_data()
    first, second = world["first"].pk, world["second"].pk
    a = data.ward_group(first, G1)
    assert (a.population, a.reached_total) == (1000, 4)
    assert a.non_users == pytest.approx(406)
    assert a.not_yet_reached == pytest.approx(402)
    b = data.ward_group(first, G2)
    assert (b.population, b.non_users, b.reached_total) == (500, pytest.approx(203), 1)
    assert (b.consultations, b.referred) == (1, 1)
    c = data.ward_group(second, G1)
    assert (c.population, c.non_users, c.not_yet_reached) == (800, pytest.approx(124.8), pytest.approx(122.8))
    if reached_this_year(world, 4) is not None:
        assert a.reached_year == 4
    cell = data.ward_topic(first, world["topic"].pk)
    assert (cell.own_attendances, cell.first_time, cell.waitlisted, cell.full_sessions) == (11, {G1: 4, G2: 1}, 1, 1)
    assert ("第一市民館", 30) in data.venues[first]
    assert "NPO法人プラン" in data.partners[second]  # held a session there, in a venue of the city
    assert data.partner_count == 1


def test_shares_fall_back_to_the_city_when_a_ward_has_too_little_history(world, settings):
    settings.DEKIRU_PLANNING_MIN_HISTORY = 5
    data = planning.planning_data()
    first, second, topic = world["first"].pk, world["second"].pk, world["topic"].pk
    own = planning.share_for(data, first, topic)
    assert own.basis == planning.WARD_TOPIC and own.of(G1) == pytest.approx(4 / 11)
    fallback = planning.share_for(data, second, topic)  # 2 attendances < 5: the topic city-wide, 13
    assert fallback.basis == planning.CITY_TOPIC
    assert (fallback.of(G1), fallback.of(G2)) == (pytest.approx(6 / 13), pytest.approx(1 / 13))
    # A topic never taught anywhere: the city over all topics (the same 13 attendances here).
    assert planning.share_for(data, second, world["other_topic"].pk).basis == planning.CITY
    settings.DEKIRU_PLANNING_MIN_HISTORY = 30  # now even the first ward's 11 are too few, and the topic's 13
    data = planning.planning_data()
    assert planning.share_for(data, first, topic).basis == planning.CITY


def test_the_plan_of_the_small_world(world, settings):
    """Threshold 5, 10 seats, one session, equal weights. The first ward on T: 10 × 4/11 = 3.64 (65–74) + 10 × 1/11 =
    0.91 (75+) = 4.55; the second ward on T (city-wide T share): 10 × 6/13 = 4.62 (65–74; the second ward has no one
    aged 75+) = 4.62. The other topic uses the city share over all topics: the same 6/13 and 1/13, so in the first
    ward 4.62 + 0.77 = 5.38 — the best."""
    settings.DEKIRU_PLANNING_MIN_HISTORY = 5
    data = planning.planning_data()
    month = planning.next_months(metrics.municipal_today(), 1)
    inputs = planning.Inputs(sessions=1, months=month, seats=10, venue_sessions=2, partner_sessions=4, instructors=3)
    plan = planning.make_plan(data, inputs)
    assert [(row.ward, row.topic, row.sessions) for row in plan.rows] == [(world["first"], world["other_topic"], 1)]
    assert plan.solution.objective == pytest.approx(10 * 6 / 13 + 10 * 1 / 13)
    assert plan.rows[0].expected == {G1: pytest.approx(4.62, abs=0.01), G2: pytest.approx(0.77, abs=0.01)}
    assert plan.greedy.objective <= plan.solution.objective + 1e-9
    # Capacities: one partner × 4 sessions a month city-wide; each ward min(venues × 2, 1 partner × 4).
    big = planning.make_plan(data, planning.Inputs(sessions=50, months=month, seats=10, venue_sessions=2,
                                                   partner_sessions=4, instructors=100))
    assert big.solution.sessions == 4 and big.month_capacity == 4
    assert big.ward_capacity[world["second"].pk] == 2  # one venue × 2
    assert all(sum(row.sessions for row in big.rows if row.ward == ward) <= big.ward_capacity[ward.pk]
               for ward in data.wards)
    # Instructors: 10 seats need 3 staff; 3 instructors × 4 sessions = 12 staff-sessions → 4 sessions; 2 → 2.
    few = planning.make_plan(data, planning.Inputs(sessions=50, months=month, seats=10, venue_sessions=2,
                                                   partner_sessions=4, instructors=2))
    assert few.solution.sessions == 2


# --- The page ---------------------------------------------------------------------------------------------------


@pytest.fixture
def analyst(db):
    return staff("analyst", "City analyst")


def test_the_page_for_an_analyst_in_english(client, world, analyst, settings, django_assert_num_queries):
    settings.DEKIRU_PLANNING_MIN_HISTORY = 5
    client.force_login(analyst)
    client.get(PAGE)  # warm up caches of the admin (menus, site)
    with django_assert_num_queries(PAGE_QUERIES):
        response = client.get(PAGE + "?sessions=1&seats=10&venue_sessions=2&partner_sessions=4&instructors=3")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Planning the next classes" in html
    assert "1 of 1 sessions placed." in html
    assert "Maps test" in html and "Plan NPO" in html
    assert "How the plan is computed" in html and "fewer than 5 past attendances" in html
    assert 'alt="Estimated non-users not yet reached, ' in html
    assert "/admin/outreach/planning/plan.csv?sessions=1" in html


def test_the_page_in_japanese_by_default(client, world, db):
    client.force_login(staff("officer", "City programme officer", language=""))
    response = client.get(PAGE)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'lang="ja"' in html or "lang=ja" in html
    assert "第一市民館" in html and "NPO法人プラン" in html


def test_the_chart(client, world, analyst):
    client.force_login(analyst)
    png = client.get("/admin/outreach/planning/need.png")
    assert png.status_code == 200 and png["Content-Type"] == "image/png" and png.content[:4] == b"\x89PNG"
    svg = client.get("/admin/outreach/planning/need.svg").content.decode()
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)  # 1,000 × 0.406 − 4; 500 × 0.406 − 1; 800 × 0.156 − 2
    assert {"402", "202", "123", "Estimated non-users not yet reached"} <= set(texts)
    assert client.get("/admin/outreach/planning/need.gif").status_code == 404


@pytest.mark.parametrize("group", ["Partner manager", "Partner instructor", "Call-centre operator"])
def test_who_else_is_refused(client, world, group):
    client.force_login(staff("someone", group, partner=world["partner"] if group.startswith("Partner") else None))
    for url in (PAGE, "/admin/outreach/planning/plan.csv", "/admin/outreach/planning/need.png"):
        response = client.get(url)
        # Wagtail answers PermissionDenied in its admin with a redirect to the admin home and a message.
        assert response.status_code in (302, 403)
        assert response.status_code == 403 or response["Location"] == "/admin/"


def test_the_menu_item_shows_for_city_staff_only(client, world, analyst):
    client.force_login(analyst)
    assert "/admin/outreach/planning/" in client.get("/admin/").content.decode().replace("\\/", "/")


def test_the_exports(client, world, analyst, settings):
    settings.DEKIRU_PLANNING_MIN_HISTORY = 5
    client.force_login(analyst)
    query = "?sessions=1&months=1&seats=10&venue_sessions=2&partner_sessions=4&instructors=3"
    response = client.get("/admin/outreach/planning/plan.csv" + query)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="dekiru-plan-')
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["Month", "Ward", "Topic", "Sessions"]
    assert len(rows) == 2
    month = planning.month_key(planning.next_months(metrics.municipal_today(), 1)[0])
    assert rows[1][:5] == [month, world["first"].name_en or world["first"].name, "Maps test", "1", "10"]
    assert rows[1][9] == "the whole city"
    assert float(rows[1][5]) == pytest.approx(4.62, abs=0.01)
    workbook = openpyxl.load_workbook(io.BytesIO(client.get("/admin/outreach/planning/plan.xlsx" + query).content))
    sheet = [list(row) for row in workbook.active.iter_rows(values_only=True)]
    assert sheet[1][2] == "Maps test" and sheet[1][3] == 1
    assert ModelLogEntry.objects.filter(action=EXPORT_LOG_ACTION, user=analyst).count() == 2
    assert client.get("/admin/outreach/planning/plan.pdf").status_code == 404


@pytest.mark.parametrize(("field", "value"), [
    ("sessions", "-1"), ("sessions", "0"), ("sessions", "100000000000000000000"), ("sessions", "abc"),
    ("seats", "1.5"), ("months", "13"), ("start", "1999-01"), ("instructors", "-3"),
    ("weight_65_74", "1e400"), ("weight_75_plus", "NaN"), ("sessions", "1" * 5000),
])
@pytest.mark.parametrize("language", ["en", "ja"])
def test_bad_input_gets_a_translated_error_not_a_5xx(client, world, field, value, language):
    client.force_login(staff(f"analyst-{language}", "City analyst", language=language))
    response = client.get(PAGE, {field: value})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="form-errors"' in html
    summary = html.split('id="form-errors"')[1].split("</div>")[0]
    if language == "en":
        assert "The plan could not be made" in summary
    else:
        assert "計画" in summary and "The plan could not be made" not in summary
    assert 'id="plan-table"' not in html
    export = client.get("/admin/outreach/planning/plan.csv", {field: value})
    assert export.status_code == 400 and 'id="form-errors"' in export.content.decode()


@pytest.mark.parametrize("value", ["1\x00", "\x00"])
def test_a_nul_byte_is_refused_with_400(client, world, analyst, value):
    """The site's middleware refuses NULs in any address with its 400 page (cms.middleware), before the form."""
    client.force_login(analyst)
    assert client.get(PAGE, {"sessions": value}).status_code == 400
    assert client.get("/admin/outreach/planning/plan.xlsx", {"start": value}).status_code == 400


def test_both_weights_zero_is_refused(client, world, analyst):
    client.force_login(analyst)
    html = client.get(PAGE, {"weight_65_74": "0", "weight_75_plus": "0"}).content.decode()
    assert "Give at least one age group a weight above zero." in html


def test_an_empty_city_gets_a_page_not_an_error(client, site, analyst):
    client.force_login(analyst)
    response = client.get(PAGE)
    assert response.status_code == 200
    assert "No population figures have been imported" in response.content.decode()


def test_consultations_count_as_demand_for_the_course_topics_staff_mapped(world):
    """A consultation counts for a ward × course topic when its consultation topic is mapped to that course topic
    (ConsultationTopic.course_topics): by a resident of the ward aged 65 or over, in the last 12 months, once per
    course topic however many of its consultation topics map there. Unmapped topics, younger people, residents of
    no ward and consultations older than a year do not count."""
    first, second, topic, other = world["first"], world["second"], world["topic"], world["other_topic"]
    mapped, also_mapped, unmapped = ConsultationTopic.objects.order_by("sort_order")[:3]
    mapped.course_topics.set([topic, other])
    also_mapped.course_topics.set([topic])
    today = metrics.municipal_today()

    def consult(*, ward=first, band="70-74", days_ago=0, topics=(mapped,)):
        consultation = Consultation.objects.create(
            date=today - timedelta(days=days_ago), place=Consultation.Place.WARD_OFFICE, place_ward=second,
            residence_ward=ward, age_band=band, outcome=Consultation.Outcome.SOLVED)
        consultation.topics.set(topics)

    consult()
    consult(band="75-79", topics=(mapped, also_mapped))  # two topics mapped to T: still one consultation for T
    consult(ward=second, topics=(also_mapped,))
    consult(band="50-59")  # under 65
    consult(ward=None)  # not a resident of a ward
    consult(days_ago=400)  # older than the 12 months
    consult(topics=(unmapped,))

    data = planning.planning_data()
    # The fixture's own consultation (first ward, 75–79) is on the first topic by sort order: `mapped`.
    assert data.ward_topic(first.pk, topic.pk).consultations == 3
    assert data.ward_topic(first.pk, other.pk).consultations == 3
    assert data.ward_topic(second.pk, topic.pk).consultations == 1
    assert data.ward_topic(second.pk, other.pk).consultations == 0


def test_the_consultations_per_topic_are_on_the_page_and_in_the_export(client, world):
    ConsultationTopic.objects.order_by("sort_order").first().course_topics.set([world["topic"]])
    client.force_login(staff("planner-consult", "City programme officer"))
    page = client.get(PAGE, {"sessions": 4}).content.decode()
    assert page.count("Consultations on the topic (12 months)") == 2  # the plan's table and the demand table
    export = client.get("/admin/outreach/planning/plan.csv", {"sessions": 4}).content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(export)))
    column = rows[0].index("Consultations on the topic (12 months)")
    assert len(rows) > 1 and all(row[column].isdigit() for row in rows[1:])
    expected = {(world["first"].name_en, world["topic"].name_en): "1"}  # the fixture's consultation
    for row in rows[1:]:
        assert row[column] == expected.get((row[1], row[2]), "0")
