"""The resident's can-do check in Chromium: on a phone-sized screen without JavaScript, answer every question by
tapping the answer's words, send, see the thanks, come back and find the answers kept; and the page passes
axe-core (WCAG 2.2 A/AA) in Japanese and English, with touch targets of at least 44 px."""

import importlib
from datetime import timedelta

import pytest
from django.utils import translation

from courses.models import Registration
from outreach.assessment_tokens import assessment_path
from outreach.models import SelfAssessment, SkillItem, SkillScore
from tests import factories
from tests.e2e.conftest import PHONE
from tests.e2e.test_accessibility import MEASURE_TARGETS, MIN_TARGET, format_violations, run_axe

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.clock]

ITEMS = importlib.import_module("outreach.migrations.0002_load_skill_items").ITEMS


@pytest.fixture
def check_path(site):
    """The "after" check of someone who attended yesterday's class of a course teaching items 1, 2, 6 and 11."""
    for number, text, text_en, group in ITEMS:  # a flushed database (transactional tests) lost the migration's data
        SkillItem.objects.update_or_create(number=number, defaults={"text": text, "text_en": text_en, "group": group})
    course = factories.course()
    course.skills.set(SkillItem.objects.filter(number__in=[1, 2, 6, 11]))
    course.save()
    session = factories.session(course_page=course, starts_in=-timedelta(days=1))
    registration = factories.registration(session_obj=session, status=Registration.Status.ATTENDED)
    with translation.override("ja"):
        return assessment_path(registration, SelfAssessment.Kind.POST)


def test_a_resident_answers_on_a_phone_without_javascript(live_server, phone_page, check_path):
    page = phone_page
    page.goto(live_server.url + check_path)
    assert page.locator("html").get_attribute("lang") == "ja"
    questions = page.locator("main form fieldset")
    assert questions.count() == 4
    assert "電源を入れ、ロックを解除できる" in questions.first.locator("legend").inner_text()

    # Sending with nothing chosen: the page says which questions to answer, and nothing is saved.
    page.click("main form button[type=submit]")
    assert page.locator("#form-errors").count() == 1
    assert not SelfAssessment.objects.exists()

    # Tap the words of an answer (the label is the tap target), one per question.
    for index, level in enumerate([3, 2, 1, 0]):
        questions.nth(index).locator(".choice label").nth(level).click()
    page.click("main form button[type=submit]")
    assert page.url.endswith("/done/")
    assert page.locator(".notice-success").count() == 1
    assessment = SelfAssessment.objects.get()
    assert (assessment.kind, assessment.source) == (SelfAssessment.Kind.POST, SelfAssessment.Source.ONLINE)
    assert dict(SkillScore.objects.values_list("item__number", "score")) == {1: 3, 2: 2, 6: 1, 11: 0}

    # Coming back shows the answers given; changing one and sending again replaces it.
    page.goto(live_server.url + check_path)
    assert page.locator("input[name=item_1][value='3']").is_checked()
    page.locator("main form fieldset").nth(3).locator(".choice label").nth(2).click()
    page.click("main form button[type=submit]")
    assert SelfAssessment.objects.count() == 1
    assert SkillScore.objects.get(item__number=11).score == 2


def test_the_check_page_passes_axe_and_has_large_targets(live_server, open_page, axe_source, check_path):
    report, small = [], []
    for lang in ("ja", "en"):
        page = open_page(viewport=PHONE, lang=lang)
        response = page.goto(live_server.url + (check_path if lang == "ja" else "/en" + check_path))
        assert response.status == 200 and page.locator("html").get_attribute("lang") == lang
        if violations := run_axe(page, axe_source):
            report.append(format_violations(f"check {lang}", violations))
        for target in page.evaluate(MEASURE_TARGETS):
            if not target["inline"] and (target["height"] < MIN_TARGET
                                         or min(target["ownHeight"], target["ownWidth"]) < 24):
                small.append(f"{lang}: {target['what']} {target['width']:.0f}×{target['height']:.0f}")
        # The form with its errors shown, too.
        page.click("main form button[type=submit]")
        assert page.locator("#form-errors").count() == 1
        if violations := run_axe(page, axe_source):
            report.append(format_violations(f"check with errors {lang}", violations))
    assert not report, "\n\n".join(report)
    assert not small, "Too small on a phone:\n  " + "\n  ".join(small)
