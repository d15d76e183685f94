"""The accessibility gate: every public page, in Japanese and in English, on a phone and a desktop, checked by
axe-core for WCAG 2.2 A/AA; plus what axe cannot judge for older residents: large type, 44 px touch targets on
the forms, no sideways scrolling at 320 px (reflow), and Japanese pages written in Japanese.

To check a new public page, add one `PublicPage` to PAGES (and, if it needs data, a field to `Scenario`).
Screenshots of every page checked by axe: DEKIRU_SCREENSHOTS=/tmp/shots pytest tests/e2e/test_accessibility.py
"""

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.template.loader import render_to_string
from django.utils import translation

from cms import roles
from cms.models import SiteSettings
from courses.models import Registration, Session, Topic
from outreach.assessment_tokens import assessment_path
from outreach.models import SelfAssessment
from partners import invitations
from partners.models import StaffInvitation
from tests import factories
from tests.e2e.conftest import DESKTOP, PHONE

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.clock]

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
LANGUAGES = ["ja", "en"]
VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}
REFLOW = {"width": 320, "height": 640}  # WCAG 1.4.10: content reflows at 320 CSS px without sideways scrolling
MIN_TARGET = 44  # px high; WCAG 2.2 (2.5.8) requires 24 × 24, we aim for the 44 of 2.5.5 on forms residents use
MIN_BASE_FONT = 18  # px
SCREENSHOTS = os.environ.get("DEKIRU_SCREENSHOTS")


# --- The public pages --------------------------------------------------------------------------------------


@dataclass
class Scenario:
    """Japanese paths of pages built from one small data set; the English path is the same under /en."""

    course: str
    register: str
    register_full: str
    confirmed: str
    waitlisted: str
    cancel: str
    privacy: str
    ward_id: int
    open_session_id: int
    check: str
    invitation: str
    invitation_gone: str

    def fresh_cancel(self) -> str:
        """The cancel page of a new registration: cancelling is a one-time action, and each visit makes one."""
        registration = factories.registration(session_obj=Session.objects.get(pk=self.open_session_id))
        with translation.override("ja"):
            return registration.get_cancel_url()


def submit_form(page, selector: str = "main form button[type=submit]"):
    with page.expect_navigation() as navigation:
        page.click(selector)
    return navigation.value


def submit_as_proxy(page):
    """'Booking for someone else', with the attending person given and the booker's name and relationship missing."""
    page.check("input[name=booking_for][value=other]")
    page.fill("#id_name", "川崎 一郎")
    page.fill("#id_kana", "カワサキ イチロウ")
    page.select_option("#id_age_band", "80-84")
    page.select_option("#id_ward", "outside")
    page.check("#id_consent")
    # The booker's phone number, so that a phone call can be chosen (notify-choices.js offers only what the contact
    # details allow); their name and relationship stay missing.
    page.fill("#id_booker_phone", "044-200-1111")
    page.check("input[name=notify_by][value=call]")
    return submit_form(page)


@dataclass(frozen=True)
class PublicPage:
    id: str
    path: Callable[[Scenario], str]
    status: int = 200  # of the page finally shown: proves the check looked at the intended page
    action: Callable | None = None  # run after loading `path`, e.g. submit a form; returns the navigation response
    expect: str | None = None  # a selector the page must show


PAGES = [
    PublicPage("home", lambda s: "/", expect=".ward-list"),
    PublicPage("course-index", lambda s: "/courses/", expect=".card-list"),
    PublicPage("course", lambda s: s.course, expect=".session-cancelled"),
    PublicPage("register", lambda s: s.register, expect="main form"),
    PublicPage("register-full", lambda s: s.register_full, expect=".notice-warning"),
    PublicPage("register-errors", lambda s: s.register, status=400, action=submit_form, expect="#form-errors"),
    PublicPage("register-proxy-errors", lambda s: s.register, status=400, action=submit_as_proxy,
               expect="#id_booker_name[aria-invalid=true]"),
    PublicPage("confirmed", lambda s: s.confirmed, expect=".notice-success"),
    PublicPage("waitlisted", lambda s: s.waitlisted, expect=".notice-warning"),
    PublicPage("cancel", lambda s: s.cancel, expect="main form"),
    PublicPage("cancelled", lambda s: s.fresh_cancel(), action=submit_form, expect=".message-success"),
    PublicPage("already-registered", lambda s: "/registrations/already/"),
    PublicPage("privacy", lambda s: s.privacy),
    PublicPage("not-found", lambda s: "/no-such-page/", status=404),
    PublicPage("classes", lambda s: "/classes/", expect=".pagination"),
    PublicPage("classes-search", lambda s: "/classes/?q=スマホ", expect=".link-list"),
    PublicPage("classes-filtered", lambda s: f"/classes/?ward={s.ward_id}&level=beginner&free=on&page=2",
               expect=".more-filters[open]"),
    PublicPage("can-do-check", lambda s: s.check, expect="main form fieldset"),
    PublicPage("can-do-check-errors", lambda s: s.check, status=400, action=submit_form, expect="#form-errors"),
    PublicPage("opendata", lambda s: "/opendata/", expect="main ul"),
    PublicPage("staff-invitation", lambda s: s.invitation, expect="main form"),
    PublicPage("staff-invitation-errors", lambda s: s.invitation, status=400, action=submit_form,
               expect="#form-errors, [aria-invalid=true]"),
    PublicPage("staff-invitation-withdrawn", lambda s: s.invitation_gone, status=410),
    PublicPage("calendar", lambda s: "/calendar/{0.year}/{0.month}/?ward={1}".format(
        Session.objects.filter(pk=s.open_session_id).dates("starts_at", "month")[0], s.ward_id),
        expect=".month-calendar .calendar-open"),
]
PAGE_IDS = [spec.id for spec in PAGES]


@pytest.fixture
def scenario(site) -> Scenario:
    """One course with an open, a full and a cancelled date and more dates than a listing page shows; a confirmed
    and a waitlisted registration; a phone number in the site settings: every optional part of the templates."""
    SiteSettings.objects.filter(site=site).update(
        phone_number="044-200-0000", phone_hours="平日 9:00〜17:00", phone_hours_en="weekdays 9:00–17:00")
    venue = factories.venue(access="武蔵小杉駅から徒歩5分", access_en="5 minutes' walk from Musashi-Kosugi station",
                            step_free=True, hearing_loop=True, loaner_devices=True)
    course = factories.course(target_audience="はじめてスマホを使う方",
                              target_audience_en="First-time smartphone users", what_to_bring_en="Your smartphone")
    course.topics.add(Topic.objects.create(name="LINE", name_en="LINE", slug="line"))
    organiser = factories.partner()
    open_session = factories.session(course_page=course, organiser=organiser, venue=venue,
                                     notes="筆記用具をお持ちください。",
                                     notes_en="Please bring something to write with.")
    full = factories.session(course_page=course, organiser=organiser, venue=venue, capacity=1,
                             starts_in=timedelta(days=8))
    factories.registration(session_obj=full)
    waiting = factories.registration(session_obj=full, status=Registration.Status.WAITLISTED)
    factories.session(course_page=course, organiser=organiser, venue=venue, status=Session.Status.CANCELLED,
                      cancellation_reason="講師の体調不良のため", starts_in=timedelta(days=9))
    Session.objects.bulk_create([  # more dates than a page of the listing shows (20), all in the venue's ward
        Session(course=course, organiser=organiser, venue=venue, capacity=10, starts_at=open_session.starts_at
                + timedelta(weeks=week), ends_at=open_session.ends_at + timedelta(weeks=week))
        for week in range(2, 25)])
    confirmed = factories.registration(session_obj=open_session)
    invitation_links = []
    for number in range(2):  # a partner manager's invitation, and a withdrawn one; links made as the worker does
        invitation = invitations.invite(email=f"staff{number}@example.jp", role=roles.PARTNER_MANAGER,
                                        partner=organiser, first_name="花子", last_name="川崎")
        secret = f"accessibility-check-secret-{number}"
        StaffInvitation.objects.filter(pk=invitation.pk).update(
            token_hash=invitations.hash_secret(secret), send_status=StaffInvitation.SendStatus.SENT)
        invitation_links.append(f"/staff/invitation/{invitation.pk}:{secret}/")
        if number:
            invitations.revoke(invitation=invitation)
    with translation.override("ja"):
        return Scenario(
            course=course.url,
            register=f"{course.url}sessions/{open_session.pk}/register/",
            register_full=f"{course.url}sessions/{full.pk}/register/",
            confirmed=confirmed.get_manage_url(), waitlisted=waiting.get_manage_url(),
            cancel=confirmed.get_cancel_url(), privacy=SiteSettings.for_site(site).privacy_policy_page.url,
            ward_id=venue.ward_id, open_session_id=open_session.pk,
            check=assessment_path(confirmed, SelfAssessment.Kind.PRE),
            invitation=invitation_links[0], invitation_gone=invitation_links[1])


def visit(page, live_server, spec: PublicPage, scenario: Scenario, lang: str):
    """Load `spec` in `lang` and check it is the intended page."""
    path = spec.path(scenario)
    response = page.goto(live_server.url + (path if lang == "ja" else "/en" + path))
    if spec.action:
        response = spec.action(page)
    assert response.status == spec.status, f"{spec.id} ({lang}): HTTP {response.status} at {page.url}"
    assert page.locator("html").get_attribute("lang") == lang, f"{spec.id}: wrong language at {page.url}"
    if spec.expect:
        assert page.locator(spec.expect).count(), f"{spec.id} ({lang}): {spec.expect!r} not shown at {page.url}"


# --- axe-core --------------------------------------------------------------------------------------------------


def run_axe(page, axe_source: Path, tags: list[str] = AXE_TAGS) -> list[dict]:
    # Evaluated, not added as a <script> element: the public site's Content-Security-Policy blocks inline scripts.
    page.evaluate(axe_source.read_text())
    return page.evaluate(
        """async (tags) => {
            const results = await axe.run(document, {runOnly: {type: "tag", values: tags},
                                                      resultTypes: ["violations"]});
            return results.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                nodes: v.nodes.map(n => ({target: n.target.join(" "), html: n.html,
                                          summary: n.failureSummary}))}));
        }""",
        tags)


def format_violations(where: str, violations: list[dict]) -> str:
    lines = [f"{where}: {len(violations)} axe violation(s)"]
    for v in violations:
        lines.append(f"  [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:8]:
            lines.append(f"      {node['target']}  {node['html'][:160]}")
            for detail in (node["summary"] or "").splitlines()[1:3]:
                lines.append(f"        {detail.strip()}")
        if len(v["nodes"]) > 8:
            lines.append(f"      … and {len(v['nodes']) - 8} more")
    return "\n".join(lines)


@pytest.mark.parametrize("spec", PAGES, ids=PAGE_IDS)
def test_no_axe_violations(live_server, open_page, axe_source, scenario, spec):
    """WCAG 2.2 A/AA, per axe-core, in both languages at phone and desktop widths."""
    report = []
    for lang in LANGUAGES:
        for viewport_name, viewport in VIEWPORTS.items():
            page = open_page(viewport=viewport, lang=lang)
            visit(page, live_server, spec, scenario, lang)
            if SCREENSHOTS:
                Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
                page.screenshot(path=f"{SCREENSHOTS}/{spec.id}-{lang}-{viewport_name}.png", full_page=True)
            if violations := run_axe(page, axe_source):
                report.append(format_violations(f"{spec.id} {lang} {viewport_name} {page.url}", violations))
    assert not report, "\n\n".join(report)


def test_axe_reports_what_it_should(open_page, axe_source):
    """The gate can fail: an unlabelled field, pale text and tiny buttons are reported."""
    page = open_page(viewport=PHONE)
    page.goto("about:blank")  # a page keeps the policy of the document it showed before
    page.set_content('<!DOCTYPE html><html lang="ja"><title>t</title><main><input type="text">'
                     '<p style="color:#aaa">薄い文字</p><button style="width:10px;height:10px;padding:0">a</button>'
                     '<button style="width:10px;height:10px;padding:0">b</button></main></html>')
    found = {v["id"] for v in run_axe(page, axe_source)}
    assert {"label", "color-contrast", "target-size"} <= found, found


def test_server_error_page_has_no_axe_violations(open_page, axe_source):
    """500.html is served without Django's context (no database, no settings): checked as a static document."""
    for viewport in VIEWPORTS.values():
        page = open_page(viewport=viewport)
        page.goto("about:blank")  # a page keeps the policy of the document it showed before
        page.set_content(render_to_string("500.html"))
        violations = run_axe(page, axe_source)
        assert not violations, format_violations("500.html", violations)


# --- What axe does not measure ---------------------------------------------------------------------------------

MEASURE_TARGETS = """() => {
    const visible = el => { const s = getComputedStyle(el); const r = el.getBoundingClientRect();
                            return s.display !== "none" && s.visibility !== "hidden" && r.width > 0 && r.height > 0; };
    const describe = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.name ? `[name=${el.name}]` : "")
                           + ` "${(el.innerText || el.value || "").trim().slice(0, 40)}"`;
    const found = [];
    const controls = "a[href], button, input:not([type=hidden]), select, textarea, summary";
    for (const el of document.querySelectorAll(controls)) {
        if (!visible(el)) continue;
        let rect = el.getBoundingClientRect();
        if (rect.right <= 0 || rect.bottom <= 0) {  // shown only on focus (the skip link): measure it focused
            el.focus(); rect = el.getBoundingClientRect(); el.blur();
        }
        // A link in running text is exempt (WCAG 2.5.8 "inline"): a link inside a paragraph with other words.
        const paragraph = el.tagName === "A" && el.closest("p");
        const inline = !!paragraph && paragraph.innerText.trim() !== el.innerText.trim();
        // A radio button or checkbox is activated by its label too: the target is the two together.
        let height = rect.height, width = rect.width;
        if ((el.type === "checkbox" || el.type === "radio") && el.labels.length) {
            const boxes = [rect, ...[...el.labels].map(l => l.getBoundingClientRect())];
            height = Math.max(...boxes.map(b => b.bottom)) - Math.min(...boxes.map(b => b.top));
            width = Math.max(...boxes.map(b => b.right)) - Math.min(...boxes.map(b => b.left));
        }
        found.push({what: describe(el), height, width, ownHeight: rect.height, ownWidth: rect.width, inline});
    }
    return found;
}"""
BASE_FONT_SIZE = "() => parseFloat(getComputedStyle(document.body).fontSize)"


@pytest.mark.parametrize("spec_id", ["register", "register-proxy-errors", "classes-filtered"])
def test_form_touch_targets_and_type_on_a_phone(live_server, open_page, scenario, spec_id):
    """On a phone, every link, button and field of the registration form (and the class finder) is at least
    44 px high, none is smaller than 24 × 24 px itself (WCAG 2.5.8), and the base font size is at least 18 px."""
    spec = PAGES[PAGE_IDS.index(spec_id)]
    problems = []
    for lang in LANGUAGES:
        page = open_page(viewport=PHONE, lang=lang)
        visit(page, live_server, spec, scenario, lang)
        if (base := page.evaluate(BASE_FONT_SIZE)) < MIN_BASE_FONT:
            problems.append(f"{lang}: base font size {base}px")
        targets = page.evaluate(MEASURE_TARGETS)
        assert len(targets) >= 10, f"{lang}: only {len(targets)} targets found — is the form there?"
        for t in targets:
            if not t["inline"] and (t["height"] < MIN_TARGET or min(t["ownHeight"], t["ownWidth"]) < 24):
                problems.append(f"{lang}: {t['what']} is {t['width']:.0f}×{t['height']:.0f} px"
                                f" (its own box {t['ownWidth']:.0f}×{t['ownHeight']:.0f})")
    assert not problems, f"Too small on {spec.id} (targets ≥ {MIN_TARGET}px high, type ≥ {MIN_BASE_FONT}px):\n  " + \
        "\n  ".join(problems)


OVERFLOW = """() => {
    const width = document.documentElement.clientWidth;
    if (document.documentElement.scrollWidth <= width) return null;
    const wide = [...document.body.querySelectorAll("*")].filter(el => el.getBoundingClientRect().right > width + 0.5)
        .map(el => `${el.tagName.toLowerCase()}.${el.className} (${el.getBoundingClientRect().right.toFixed(0)}px)`);
    return {scrollWidth: document.documentElement.scrollWidth, width, wide: wide.slice(0, 6)};
}"""


def test_no_horizontal_scrolling_at_320px_and_large_type(live_server, open_page, scenario):
    """Reflow (WCAG 1.4.10): at 320 CSS px wide no page scrolls sideways, in either language. And the base font
    size of every page is at least 18 px."""
    problems = []
    for spec in PAGES:
        for lang in LANGUAGES:
            page = open_page(viewport=REFLOW, lang=lang)
            visit(page, live_server, spec, scenario, lang)
            if overflow := page.evaluate(OVERFLOW):
                problems.append(f"{spec.id} {lang}: {overflow['scrollWidth']}px wide in {overflow['width']}px;"
                                f" too wide: {', '.join(overflow['wide'])}")
            if (base := page.evaluate(BASE_FONT_SIZE)) < MIN_BASE_FONT:
                problems.append(f"{spec.id} {lang}: base font size {base}px < {MIN_BASE_FONT}px")
    assert not problems, "At 320 px:\n  " + "\n  ".join(problems)


# Words that are the same in Japanese text (names of products and services residents learn about, and the
# national event list's column names "NO" and "URL").
LATIN_IN_JAPANESE = {"LINE", "iPhone", "Android", "Wi", "Fi", "NPO", "ICT", "SMS", "QR", "PayPay", "Zoom", "NO", "URL"}
ENGLISH_TEXT = """() => {
    const found = new Set([document.title]);
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const el = node.parentElement;
        if (el.closest("[lang]:not([lang=ja])") || el.closest("script, style, noscript")) continue;
        const text = node.textContent.replace(/\\s+/g, " ").trim();
        if (text) found.add(text);
    }
    for (const el of document.querySelectorAll("[aria-label], [title], [placeholder], img[alt]")) {
        for (const name of ["aria-label", "title", "placeholder", "alt"]) {
            if (el.getAttribute(name)) found.add(el.getAttribute(name));
        }
    }
    return [...found];
}"""
JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff01-\uff5e]")
ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")
ENGLISH_PHRASE = re.compile(r"[A-Za-z]{2,}(?:[ ,]+[A-Za-z]+){2,}")


def untranslated(text: str) -> bool:
    """English left in a Japanese page: three English words in a row, or English words and no Japanese at all."""
    words = [w for w in ENGLISH_WORD.findall(text) if w not in LATIN_IN_JAPANESE]
    return bool(ENGLISH_PHRASE.search(text)) or (bool(words) and not JAPANESE.search(text))


def test_japanese_pages_are_in_japanese(live_server, open_page, scenario):
    """Japanese is the default: no English is left on a Japanese page (WCAG 3.1.2 too: English text on a page
    marked lang="ja" is read out with Japanese pronunciation). Text marked lang="en" (the language switch) is
    allowed."""
    english = {}
    page = open_page(viewport=PHONE)
    for spec in PAGES:
        visit(page, live_server, spec, scenario, "ja")
        for text in page.evaluate(ENGLISH_TEXT):
            if untranslated(text):
                english.setdefault(text[:100], spec.id)
    assert not english, f"{len(english)} English text(s) on Japanese pages:\n  " + "\n  ".join(
        f"{page_id}: {text}" for text, page_id in english.items())
