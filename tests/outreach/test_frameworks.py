"""The framework mappings (outreach.models.Framework / FrameworkTheme): the default mapping of the data migration,
editing it in the admin, and the report grouped by each framework's themes (outreach.followups.framework_report),
with suppression and a fixed number of queries; the annual report's section."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone
from wagtail.users.models import UserProfile

from cms import roles
from courses.models import Registration
from outreach import followups, metrics
from outreach.models import (
    FollowUp,
    FollowUpAnswer,
    FollowUpTask,
    Framework,
    FrameworkTheme,
    SelfAssessment,
    SkillItem,
    SkillScore,
)
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

SEED = importlib.import_module("outreach.migrations.0009_follow_up")


@pytest.fixture(autouse=True)
def seeded(db):
    if not FollowUpTask.objects.exists():
        SEED.load(apps, None)


def test_the_default_mapping_covers_every_item_and_question():
    national, uk = Framework.objects.order_by("sort_order")
    assert national.code == "jp_digital_support" and uk.code == "uk_eds"
    assert [theme.code for theme in national.themes.order_by("sort_order")] == [
        "basic_operation", "calls_camera", "internet", "maps", "line_sns", "my_number_application", "mynaportal",
        "e_tax", "online_medical"]
    assert [theme.name_en for theme in uk.themes.order_by("sort_order")] == [
        "Foundation skills", "Communicating", "Handling information and content", "Transacting", "Problem solving",
        "Being safe and legal online"]
    for framework in (national, uk):
        mapped = set(SkillItem.objects.filter(framework_themes__framework=framework).values_list("number", flat=True))
        assert mapped == set(range(1, 13)), framework
    mapped_uk = set(FollowUpTask.objects.filter(framework_themes__framework=uk).values_list("slug", flat=True))
    assert mapped_uk == {"online_procedure", "video_call", "cashless", "city_site", "avoided_scam"}
    # The UK framework's themes agree with the items' own groups (PRODUCT.md).
    for theme in uk.themes.all():
        groups = set(theme.skill_items.values_list("group", flat=True))
        assert len(groups) <= 1, theme


def attendee(partner, *, pre: int, post: int, answer: str):
    session = factories.session(organiser=partner, starts_in=-timedelta(days=31))
    registration = factories.registration(session_obj=session, status=Registration.Status.ATTENDED)
    for kind, score in (("pre", pre), ("post", post)):
        assessment = SelfAssessment.objects.create(registration=registration, kind=kind, source="paper")
        SkillScore.objects.bulk_create([SkillScore(assessment=assessment, item=item, score=score)
                                        for item in SkillItem.objects.all()])
    followups.record_follow_up(registration=registration, source=FollowUp.Source.PAPER,
                               answers={task.pk: answer for task in followups.asked_tasks()})
    return registration


@pytest.fixture
def programme(site):
    """10 people: before the class nobody could (0), after it all could on their own (2); a month later 7 did the
    follow-up tasks on their own and 3 not yet."""
    partner = factories.partner()
    for n in range(10):
        attendee(partner, pre=0, post=2, answer=FollowUpAnswer.Answer.YES if n < 7 else FollowUpAnswer.Answer.NOT_YET)
    return partner


def lines_of(code, filters=None):
    report = {framework.code: lines for framework, lines in followups.framework_report(filters or metrics.Filters())}
    return {line.theme.code: line for line in report[code]}


def test_the_report_speaks_each_frameworks_language(programme):
    uk = lines_of("uk_eds")
    transacting = uk["transacting"]
    assert (transacting.before, transacting.after, transacting.people_checked) == (0.0, 100.0, 10)
    assert transacting.on_own == 70.0 and transacting.people_followed == 10
    assert transacting.items == [9]
    assert not transacting.checks_hidden and not transacting.follow_hidden
    national = lines_of("jp_digital_support")
    assert national["online_medical"].people_checked == 0 and national["online_medical"].on_own is None
    assert national["mynaportal"].on_own == 70.0


def test_editing_the_mapping_changes_the_report(programme):
    theme = FrameworkTheme.objects.get(framework__code="uk_eds", code="problem_solving")
    assert lines_of("uk_eds")["problem_solving"].on_own is None, "no follow-up question mapped yet"
    theme.follow_up_tasks.add(FollowUpTask.objects.get(slug="avoided_scam"))
    assert lines_of("uk_eds")["problem_solving"].on_own == 70.0


def test_small_groups_are_hidden(site):
    partner = factories.partner()
    for _n in range(4):
        attendee(partner, pre=0, post=2, answer=FollowUpAnswer.Answer.YES)
    line = lines_of("uk_eds")["communicating"]
    assert line.checks_hidden and line.follow_hidden


def test_the_report_takes_a_fixed_number_of_queries(programme, django_assert_num_queries):
    with django_assert_num_queries(5):  # themes, their items, their questions, scores, answers
        followups.framework_report(metrics.Filters())
    Framework.objects.create(code="extra", name="追加の枠組み", sort_order=9)
    theme = FrameworkTheme.objects.create(framework=Framework.objects.get(code="extra"), code="t", name="テーマ")
    theme.skill_items.set(SkillItem.objects.all())
    with django_assert_num_queries(5):  # themes, their items, their questions, scores, answers
        followups.framework_report(metrics.Filters())


def superuser():
    user = get_user_model().objects.create_superuser("root", password="pw")
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = "en"
    profile.save()
    return user


def test_staff_edit_the_mapping_in_the_admin(client, site):
    client.force_login(superuser())
    theme = FrameworkTheme.objects.get(framework__code="uk_eds", code="safe_legal")
    address = reverse("wagtailsnippets_outreach_frameworktheme:edit", args=[theme.pk])
    assert client.get(address).status_code == 200
    items = SkillItem.objects.filter(number__in=[10, 11, 12])
    response = client.post(address, {
        "framework": theme.framework_id, "code": theme.code, "name": theme.name, "name_en": theme.name_en,
        "sort_order": theme.sort_order, "skill_items": [item.pk for item in items],
        "follow_up_tasks": [FollowUpTask.objects.get(slug="avoided_scam").pk]})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert sorted(theme.skill_items.values_list("number", flat=True)) == [10, 11, 12]
    task = FollowUpTask.objects.get(slug="cashless")
    assert client.get(reverse("wagtailsnippets_outreach_followuptask:edit", args=[task.pk])).status_code == 200
    assert client.get(reverse("wagtailsnippets_outreach_framework:list")).status_code == 200


def test_the_annual_report_has_the_outcomes_and_the_frameworks(client, programme):
    user = get_user_model().objects.create_user("officer", password="pw")
    user.groups.add(Group.objects.get(name=roles.CITY_PROGRAMME_OFFICER))
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = "en"
    profile.save()
    client.force_login(user)
    session = Registration.objects.first().session
    fiscal_year = metrics.fiscal_year_of(timezone.localdate(session.starts_at))
    response = client.get(f"/admin/outreach/reports/annual/?fiscal_year={fiscal_year}")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Outcomes a month later" in body
    assert "Essential Digital Skills framework (UK)" in body or "Essential Digital Skills" in body
    assert "Being safe and legal online" in body
