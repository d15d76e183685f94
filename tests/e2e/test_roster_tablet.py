"""The tablet at the door, in Chromium: a partner instructor logs in to the Wagtail admin on a 10-inch tablet held
upright (800 × 1280), opens today's class, marks someone attended, undoes it, adds a walk-in. The roster must not
scroll sideways on the tablet (either way round) or on a phone, names must be large, buttons at least 44 px, and
axe-core must find nothing in the roster's own markup (Wagtail's admin chrome is Wagtail's)."""

import importlib
import os
import re
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from wagtail.users.models import UserProfile

from cms import roles
from courses.models import Participant, Registration
from partners.models import PartnerMembership
from partners.services import add_membership
from tests import factories
from tests.e2e.conftest import DESKTOP, PHONE, admin_login
from tests.e2e.test_accessibility import AXE_TAGS, format_violations

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.clock]

TABLET_PORTRAIT = {"width": 800, "height": 1280}
TABLET_LANDSCAPE = DESKTOP  # 1280 × 800
MIN_TARGET = 44
MIN_NAME_FONT = 18
SCREENSHOTS = os.environ.get("DEKIRU_SCREENSHOTS")  # a directory: screenshots of each layout checked

OVERFLOW = "() => document.documentElement.scrollWidth <= window.innerWidth"
NAME_SIZES = """() => [...document.querySelectorAll('.roster-person__name')]
    .map(e => parseFloat(getComputedStyle(e).fontSize))"""
BUTTONS = """() => [...document.querySelectorAll('#roster button, #roster a.button')]
    .filter(e => e.getBoundingClientRect().width > 0)
    .map(e => ({text: e.innerText.trim().slice(0, 30), w: e.getBoundingClientRect().width,
                h: e.getBoundingClientRect().height}))"""


def instructor(partner):
    # Transactional tests flush the database, groups from data migrations included: recreate the roles.
    importlib.import_module("cms.migrations.0003_roles").create_roles(apps)
    user = get_user_model().objects.create_user(username="instructor", password="at-the-door-1")
    user.groups.add(Group.objects.get(name=roles.PARTNER_INSTRUCTOR))
    add_membership(partner=partner, user=user, role=PartnerMembership.Role.INSTRUCTOR)
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = "en"  # stable labels for the test, whatever the Japanese catalogue says
    profile.save()
    return user


def run_axe_on(page, axe_source, selector: str) -> list[dict]:
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


def layout_problems(page, where: str) -> list[str]:
    if SCREENSHOTS:
        os.makedirs(SCREENSHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SCREENSHOTS, where.replace(", ", "-").replace(" ", "_") + ".png"),
                        full_page=True)
    problems = []
    if not page.evaluate(OVERFLOW):
        width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        problems.append(f"{where}: scrolls sideways ({width[0]}px in {width[1]}px)")
    problems += [f"{where}: a name at {size}px" for size in page.evaluate(NAME_SIZES) if size < MIN_NAME_FONT]
    problems += [f"{where}: button {b['text']!r} is {b['w']:.0f}×{b['h']:.0f}px" for b in page.evaluate(BUTTONS)
                 if b["h"] < MIN_TARGET or b["w"] < MIN_TARGET]
    return problems


def test_an_instructor_checks_people_in_on_a_tablet(live_server, browser, site, axe_source):
    partner = factories.partner()
    course = factories.course(owner=partner, title="スマホで写真を撮ろう", title_en="Taking photos")
    session = factories.session(course_page=course, organiser=partner, starts_in=timedelta(0), capacity=2)
    haruko = factories.registration(session_obj=session, participant=factories.participant(
        name="中原 春子", kana="ナカハラ ハルコ", accessibility_needs="補聴器を使用しています。前の席を希望。"))
    factories.registration(session_obj=session, channel=Registration.Channel.PHONE,
                           booked_by=Registration.BookedBy.FAMILY, booker_name="高津 一郎",
                           booker_relationship="長男",
                           participant=factories.participant(name="高津 ハナ", kana="タカツ ハナ"))
    factories.registration(session_obj=session, status=Registration.Status.WAITLISTED, waitlist_position=1,
                           participant=factories.participant(name="多摩 次郎", kana="タマ ジロウ"))
    ward = factories.ward()
    instructor(partner)

    context = browser.new_context(viewport=TABLET_PORTRAIT, locale="ja-JP", has_touch=True)
    context.set_default_timeout(10000)
    page = context.new_page()
    problems = []
    try:
        admin_login(page, live_server, "instructor", "at-the-door-1")

        page.goto(live_server.url + "/admin/roster/")
        problems += layout_problems(page, "today, tablet portrait")
        violations = run_axe_on(page, axe_source, ".roster")
        assert not violations, format_violations("today (tablet portrait)", violations)
        page.get_by_role("link", name="Taking photos").click()
        page.wait_for_url(f"{live_server.url}/admin/roster/{session.pk}/")

        person = page.locator(f"#person-{haruko.pk}")
        # A tap marks in place (js/roster-mark.js): the answer is said in the roster's live region.
        answer = page.locator("[data-roster-mark-result]")
        person.get_by_role("button", name="Attended").click()
        page.wait_for_selector("[data-roster-mark-result][data-kind=marked]")
        assert "中原 春子: attended." in answer.inner_text()
        assert person.locator(".roster-status").inner_text() == "Attended"

        page.evaluate("() => delete document.querySelector('[data-roster-mark-result]').dataset.kind")
        person.get_by_role("button", name="Undo").click()
        page.wait_for_selector("[data-roster-mark-result][data-kind=marked]")
        assert "mark undone" in answer.inner_text()
        assert person.locator(".roster-status").inner_text() == "Not marked yet"

        page.select_option("#id_age_band", Participant.AgeBand.AGE_75_79)
        page.select_option("#id_ward", str(ward.pk))
        page.fill("#id_name", "宮前 三郎")
        page.get_by_role("button", name="Add the walk-in").click()
        page.wait_for_load_state()
        assert "Walk-in added: 宮前 三郎." in page.locator(".messages").inner_text()
        assert "宮前 三郎" in page.locator("#roster").inner_text()

        problems += layout_problems(page, "roster, tablet portrait")
        violations = run_axe_on(page, axe_source, "#roster")
        assert not violations, format_violations("roster (tablet portrait)", violations)

        for name, viewport in (("tablet landscape", TABLET_LANDSCAPE), ("phone", PHONE)):
            page.set_viewport_size(viewport)
            page.reload()
            problems += layout_problems(page, f"roster, {name}")
        assert not run_axe_on(page, axe_source, "#roster"), "axe, phone"

        page.goto(f"{live_server.url}/admin/roster/{session.pk}/sheet/")
        problems += layout_problems(page, "sheet, phone")
        violations = run_axe_on(page, axe_source, "html")  # the sheet is all ours: the whole page
        assert not violations, format_violations("sign-in sheet (phone)", violations)
        page.goto(f"{live_server.url}/admin/roster/{session.pk}/enter/")
        problems += layout_problems(page, "paper entry, phone")
        violations = run_axe_on(page, axe_source, ".roster")
        assert not violations, format_violations("paper entry (phone)", violations)
    finally:
        context.close()

    assert not problems, "\n".join(problems)
    statuses = dict(session.registrations.values_list("participant__name", "status"))
    assert statuses == {"中原 春子": "confirmed", "高津 ハナ": "confirmed", "多摩 次郎": "waitlisted",
                        "宮前 三郎": "attended"}
    walk_in = session.registrations.get(channel=Registration.Channel.WALK_IN)
    assert (walk_in.participant.age_band, walk_in.participant.ward_id) == ("75-79", ward.pk)


def test_the_sign_in_sheet_prints_25_people_a_page_on_a4(live_server, browser, site):
    """Printed by Chromium itself: 30 people and 20 blank rows for walk-ins are 2 A4 pages, each with the session's
    title and the table head, and nothing of the admin around them."""
    partner = factories.partner()
    course = factories.course(owner=partner, title="はじめてのLINE", title_en="LINE for beginners")
    session = factories.session(course_page=course, organiser=partner, starts_in=timedelta(days=1), capacity=40)
    for n in range(30):
        factories.registration(session_obj=session, participant=factories.participant(
            name=f"受講 者{n:02d}", kana=f"ジュコウ シャ{n:02d}"))
    instructor(partner)

    context = browser.new_context(viewport=TABLET_PORTRAIT, locale="ja-JP")
    page = context.new_page()
    try:
        admin_login(page, live_server, "instructor", "at-the-door-1")
        page.goto(f"{live_server.url}/admin/roster/{session.pk}/sheet/")
        page.emulate_media(media="print")
        assert not page.locator(".sheet-tools").is_visible()  # the links and the print button are not printed
        pages_on_screen = page.locator(".sheet-page")
        assert pages_on_screen.count() == 2
        for i in range(2):
            assert pages_on_screen.nth(i).locator(".sheet-title").inner_text() == "LINE for beginners"
            assert pages_on_screen.nth(i).locator("thead th").count() == 6
            assert pages_on_screen.nth(i).locator("tbody tr").count() == 25
        if SCREENSHOTS:
            page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
            page.screenshot(path=os.path.join(SCREENSHOTS, "sheet-print.png"), full_page=True)
        pdf = page.pdf(prefer_css_page_size=True)
    finally:
        context.close()

    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 2
    # A4 portrait: 210 × 297 mm, 595 × 842 points.
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    assert boxes and all(round(float(w)) == 595 and round(float(h)) == 842 for w, h in boxes), boxes
