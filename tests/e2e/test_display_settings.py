"""文字サイズ and 配色 (cms.display) in the browser, at 390 px and 320 px: set without JavaScript through the form on
every page, remembered across pages and through a form POST; at every size and scheme the resident's pages pass
axe, do not scroll sideways, and in the high-contrast schemes body text reaches 7:1 (axe's AAA contrast rule).

Screenshots: DEKIRU_SCREENSHOTS=/tmp/shots pytest tests/e2e/test_display_settings.py"""

import os
from pathlib import Path

import pytest

from tests.e2e import test_accessibility as gate
from tests.e2e.conftest import PHONE
from tests.e2e.test_accessibility import (
    AXE_TAGS,
    OVERFLOW,
    PAGES,
    REFLOW,
    PublicPage,
    format_violations,
    run_axe,
    visit,
)

scenario = gate.scenario  # the accessibility gate's data set (a fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.clock]

SCREENSHOTS = os.environ.get("DEKIRU_SCREENSHOTS")
# Each setting on its own, and the most demanding combinations (特大 + high contrast + ふりがな).
SETTINGS = [("large", "standard", False), ("x-large", "standard", False), ("standard", "inverted", False),
            ("standard", "blue-yellow", False), ("standard", "standard", True), ("x-large", "inverted", True),
            ("x-large", "blue-yellow", True)]
RESIDENT_PAGES = ["home", "classes-filtered", "course", "register", "register-errors", "register-review",
                  "confirmed", "cancel", "calendar"]


def to_review(page):
    """A valid form: the review page (入力内容の確認)."""
    page.fill("#id_name", "川崎 花子")
    page.fill("#id_kana", "カワサキ ハナコ")
    page.fill("#id_phone", "090-1234-5678")
    page.select_option("#id_age_band", "75-79")
    page.select_option("#id_ward", "outside")
    page.check("#id_consent")
    page.check("input[name=notify_by][value=call]")
    with page.expect_navigation() as navigation:
        page.click("main form button[type=submit]")
    return navigation.value


PAGES = [*PAGES, PublicPage("register-review", lambda s: s.register, action=to_review, expect="h1#review")]
PAGE_IDS = [spec.id for spec in PAGES]


def with_settings(page, live_server, size: str, scheme: str, furigana: bool = False):
    host = live_server.url.split("//")[1].split(":")[0]
    page.context.add_cookies([{"name": "dekiru_text_size", "value": size, "domain": host, "path": "/"},
                              {"name": "dekiru_colours", "value": scheme, "domain": host, "path": "/"},
                              {"name": "dekiru_furigana", "value": "on" if furigana else "off", "domain": host,
                               "path": "/"}])
    return page


@pytest.mark.parametrize(("size", "scheme", "furigana"), SETTINGS,
                         ids=[f"{a}+{b}{'+furigana' if c else ''}" for a, b, c in SETTINGS])
def test_every_setting_keeps_the_resident_pages_accessible(live_server, open_page, axe_source, scenario, size,
                                                           scheme, furigana):
    report = []
    tags = [*AXE_TAGS, "wcag2aaa"] if scheme != "standard" else AXE_TAGS
    for spec_id in RESIDENT_PAGES:
        spec = PAGES[PAGE_IDS.index(spec_id)]
        for lang in ("ja", "en"):
            for viewport_name, viewport in (("phone", PHONE), ("reflow", REFLOW)):
                if viewport_name == "reflow" and lang == "en":
                    continue  # 320 px in Japanese only: the English pages take the same markup
                page = with_settings(open_page(viewport=viewport, lang=lang), live_server, size, scheme, furigana)
                visit(page, live_server, spec, scenario, lang)
                assert page.locator("html").get_attribute("class") == \
                    f"text-{size} scheme-{scheme}" + (" furigana" if furigana else "")
                if furigana and lang == "ja":
                    assert page.locator("main ruby").count(), f"{spec.id}: no readings"
                where = f"{spec.id} {lang} {viewport_name} {size}+{scheme}"
                if SCREENSHOTS:
                    Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=f"{SCREENSHOTS}/{spec.id}-{lang}-{viewport_name}-{size}-{scheme}"
                                         f"{'-furigana' if furigana else ''}.png",
                                    full_page=True)
                if overflow := page.evaluate(OVERFLOW):
                    report.append(f"{where}: {overflow['scrollWidth']}px wide in {overflow['width']}px;"
                                  f" too wide: {', '.join(overflow['wide'])}")
                if viewport_name == "phone" and (violations := run_axe(page, axe_source, tags)):
                    # AAA rules other than contrast (e.g. link purpose) are not part of the bar
                    violations = [v for v in violations if v["id"] not in ("identical-links-same-purpose",)]
                    if violations:
                        report.append(format_violations(where, violations))
    assert not report, "\n\n".join(report)


def test_set_without_javascript_and_kept_across_pages_and_a_post(live_server, phone_page, scenario):
    page = phone_page
    page.goto(live_server.url + "/classes/")
    assert page.locator("html").get_attribute("class") == "text-standard scheme-standard"
    page.click(".display-settings summary")
    page.check("#text-size-x-large")
    page.check("#colours-inverted")
    with page.expect_navigation():
        page.click(".display-settings button[type=submit]")
    assert page.url == live_server.url + "/classes/"
    assert page.locator("html").get_attribute("class") == "text-x-large scheme-inverted"
    font = page.evaluate("() => parseFloat(getComputedStyle(document.documentElement).fontSize)")
    assert font == 30  # 16 px × 187.5 %
    page.click(".display-settings summary")  # the form shows what is set
    assert page.is_checked("#text-size-x-large") and page.is_checked("#colours-inverted")

    page.goto(live_server.url + "/en" + scenario.register)
    assert page.locator("html").get_attribute("class") == "text-x-large scheme-inverted"
    with page.expect_navigation() as navigation:
        page.click("main form button[type=submit]")
    assert navigation.value.status == 400
    assert page.locator("html").get_attribute("class") == "text-x-large scheme-inverted"

    page.click(".display-settings summary")
    page.check("#text-size-standard")
    page.check("#colours-standard")
    with page.expect_navigation():
        page.click(".display-settings button[type=submit]")
    assert page.locator("html").get_attribute("class") == "text-standard scheme-standard"


def test_furigana_are_read_once_copied_never_and_found(live_server, open_page, scenario):
    """With readings on, the readings show over the kanji, a screen reader hears the base text once (Chromium's
    accessibility tree names the link 「講座を探す」), copying copies no reading, and find in page finds the words."""
    page = with_settings(open_page(viewport=PHONE), live_server, "standard", "standard", True)
    page.goto(live_server.url + "/classes/")
    link = page.locator(".site-nav a").first
    assert link.locator("ruby").count() == 2
    assert link.locator("rt").first.evaluate("rt => getComputedStyle(rt, '::before').content") == '"こうざ"'
    assert link.locator("rt").first.evaluate("rt => rt.getBoundingClientRect().height") > 5  # drawn
    # Chromium's own accessibility tree (what screen readers get): the base text, with no reading in it.
    tree = page.context.new_cdp_session(page).send("Accessibility.getFullAXTree")["nodes"]
    links = [node.get("name", {}).get("value", "") for node in tree if node.get("role", {}).get("value") == "link"]
    assert "講座を探す" in links
    assert not [name for name in links if "こうざ" in name or "さが" in name]
    copied = link.evaluate("""el => { const range = document.createRange(); range.selectNodeContents(el);
        const selection = getSelection(); selection.removeAllRanges(); selection.addRange(range);
        return selection.toString(); }""")
    assert copied == "講座を探す"
    assert page.evaluate("() => { getSelection().removeAllRanges(); return window.find('講座を探す'); }")


SPEECH_STUB = """
window.__spoken = []; window.__cancelled = 0;
window.SpeechSynthesisUtterance = function (text) { this.text = text; this.lang = ""; this.onend = null; };
Object.defineProperty(window, "speechSynthesis", {value: {
    speak: function (u) { window.__spoken.push({text: u.text, lang: u.lang, rate: u.rate}); },
    cancel: function () { window.__cancelled += 1; }}});
"""


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_read_aloud_reads_the_main_content_in_the_pages_language(live_server, browser, scenario, lang):
    """Headless Chromium has no voices: a recorder takes the place of the speech API, and what would be spoken
    is checked."""
    context = browser.new_context(viewport=PHONE, locale="ja-JP")
    context.add_init_script(SPEECH_STUB)
    page = context.new_page()
    try:
        page.goto(live_server.url + ("" if lang == "ja" else "/en") + scenario.course)
        button = page.locator("#read-aloud button")
        assert button.get_attribute("aria-pressed") == "false"
        assert button.inner_text() == {"ja": "このページを読み上げる", "en": "Read this page aloud"}[lang]
        button.click()
        spoken = page.evaluate("() => window.__spoken")
        assert spoken and {item["lang"] for item in spoken} == {"ja-JP" if lang == "ja" else "en-GB"}
        text = " ".join(item["text"] for item in spoken)
        heading = page.locator("main h1").inner_text()
        assert heading in text
        assert page.locator(".site-footer").inner_text().split("\n")[0] not in text  # the main content only
        assert button.get_attribute("aria-pressed") == "true"
        button.click()
        assert page.evaluate("() => window.__cancelled") >= 2 and button.get_attribute("aria-pressed") == "false"
    finally:
        context.close()


def test_no_read_aloud_button_without_javascript(live_server, phone_page, scenario):
    phone_page.goto(live_server.url + scenario.course)
    assert phone_page.locator("#read-aloud button").count() == 0
    assert not phone_page.locator("#read-aloud").is_visible()


def test_book_a_class_with_every_reading_aid_on_and_no_javascript(live_server, phone_page, scenario):
    """特大 + 白黒反転 + ふりがな, set through the form without JavaScript, then the whole booking: form, review,
    confirmation. The readings never reach a value the resident sent (they are drawn, not text)."""
    from courses.models import Registration

    page = phone_page
    page.goto(live_server.url + scenario.register)
    page.click(".display-settings summary")
    page.check("#text-size-x-large")
    page.check("#colours-inverted")
    page.check("#furigana-on")
    with page.expect_navigation():
        page.click(".display-settings button[type=submit]")
    assert page.locator("html").get_attribute("class") == "text-x-large scheme-inverted furigana"
    assert page.locator("main ruby").count()
    before = Registration.objects.count()
    to_review(page)
    assert page.locator("h1#review").count() and page.locator("main ruby").count()
    with page.expect_navigation():
        page.click("main button[name=step][value=register]")
    assert Registration.objects.count() == before + 1
    registration = Registration.objects.order_by("-pk").first()
    assert registration.participant.name == "川崎 花子" and registration.participant.kana == "カワサキ ハナコ"
    assert page.locator("html").get_attribute("class") == "text-x-large scheme-inverted furigana"
    assert registration.reference_display in page.locator("main").inner_text().replace(" ", "")
