"""The can-do self-assessment (できることチェック): the service's rules, the resident's signed link and page in both
languages, the link in the thanks e-mail, and the admin pages for the tablet at the class and for paper sheets
(permissions, partner isolation, query budget)."""

import importlib
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation
from wagtail.models import ModelLogEntry
from wagtail.users.models import UserProfile

from cms import roles
from courses import emails, outbox
from courses.models import OutgoingMessage, Registration
from outreach import assessments
from outreach.assessment_tokens import SALT, assessment_path, assessment_token
from outreach.models import SelfAssessment, SkillItem, SkillScore
from partners.models import PartnerMembership
from partners.services import add_membership
from tests import factories
from tests.refusals import refused_page

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

Kind, Source, Status = SelfAssessment.Kind, SelfAssessment.Source, Registration.Status
PARTNER_ROLES = {roles.PARTNER_MANAGER: PartnerMembership.Role.MANAGER,
                 roles.PARTNER_INSTRUCTOR: PartnerMembership.Role.INSTRUCTOR}
ITEMS = importlib.import_module("outreach.migrations.0002_load_skill_items").ITEMS
NAME = "川崎 秘子"


@pytest.fixture(autouse=True)
def skill_items(db):
    """The 12 items of the data migration (a flushed database of a browser test run before may have lost them)."""
    for number, text, text_en, group in ITEMS:
        SkillItem.objects.update_or_create(number=number, defaults={"text": text, "text_en": text_en, "group": group})


def course_teaching(*numbers, owner=None):
    course = factories.course(owner=owner)
    if numbers:
        course.skills.set(SkillItem.objects.filter(number__in=numbers))
        course.save()
    return course


def registration(*, status=Status.CONFIRMED, starts_in=timedelta(days=3), numbers=(), partner=None, **fields):
    """A registration of `status` for a session of a course teaching items `numbers` (all 12 when none)."""
    partner = partner or factories.partner()
    course = course_teaching(*numbers, owner=partner)
    session = factories.session(course_page=course, organiser=partner, starts_in=starts_in, **fields)
    return factories.registration(session_obj=session, status=status,
                                  participant=factories.participant(name=NAME, email="hiko@example.jp"))


def all_answers(score=2, numbers=range(1, 13)) -> dict:
    return dict.fromkeys(numbers, score)


def record(reg, kind=Kind.PRE, scores=None, source=Source.ONLINE, actor=None):
    return assessments.record_self_assessment(registration=reg, kind=kind, scores=scores or all_answers(),
                                              source=source, actor=actor)


def answers_of(reg, kind) -> dict:
    return dict(SkillScore.objects.filter(assessment__registration=reg, assessment__kind=kind)
                .values_list("item__number", "score"))


# --- The service --------------------------------------------------------------------------------------------------


def test_a_check_is_recorded_with_its_answers_and_an_audit_entry_without_names(site):
    reg = registration(numbers=(1, 2, 3, 4))
    assessment = record(reg, scores={1: 0, 2: 1, SkillItem.objects.get(number=3): 2, 4: 3})

    assert (assessment.kind, assessment.source, assessment.entered_by) == (Kind.PRE, Source.ONLINE, None)
    assert answers_of(reg, Kind.PRE) == {1: 0, 2: 1, 3: 2, 4: 3}
    entry = ModelLogEntry.objects.get(action="outreach.self_assessment.recorded")
    assert entry.data["registration"] == reg.pk and entry.data["answers"] == 4
    assert NAME not in entry.label and "hiko" not in entry.label and NAME not in str(entry.data)


def test_a_second_submission_replaces_the_answers_of_the_same_row(site):
    reg = registration(numbers=(1, 2, 3))
    first = record(reg, scores={1: 0, 2: 0, 3: 0})
    user = get_user_model().objects.create_user("instructor")
    second = record(reg, scores={1: 3, 2: 2}, source=Source.TABLET, actor=user)

    assert second.pk == first.pk
    assert SelfAssessment.objects.filter(registration=reg).count() == 1
    assert answers_of(reg, Kind.PRE) == {1: 3, 2: 2}  # item 3 not answered again: dropped
    second.refresh_from_db()
    assert (second.source, second.entered_by) == (Source.TABLET, user)
    assert ModelLogEntry.objects.filter(action="outreach.self_assessment.replaced").count() == 1


@pytest.mark.parametrize(("status", "pre", "post"), [
    (Status.CONFIRMED, True, False),
    (Status.ATTENDED, True, True),
    (Status.NO_SHOW, False, False),
    (Status.WAITLISTED, False, False),
    (Status.CANCELLED, False, False),
])
def test_who_may_have_which_check(site, status, pre, post):
    reg = registration(status=status, numbers=(1,))
    for kind, allowed in ((Kind.PRE, pre), (Kind.POST, post)):
        if allowed:
            record(reg, kind, scores={1: 2})
        else:
            with pytest.raises(assessments.AssessmentNotAllowed):
                record(reg, kind, scores={1: 2})
    assert SelfAssessment.objects.filter(registration=reg).count() == pre + post
    assert assessments.allowed_kinds(reg) == [k for k, ok in ((Kind.PRE, pre), (Kind.POST, post)) if ok]


def test_the_post_check_message_says_why(site):
    with pytest.raises(assessments.PostCheckNotAllowed) as refused:
        record(registration(status=Status.CONFIRMED), Kind.POST)
    with translation.override("en"):
        assert "attended" in str(refused.value.message)
    with translation.override("ja"):
        assert "出席" in str(refused.value.message)


def test_no_check_for_a_cancelled_session(site):
    reg = registration()
    reg.session.status, reg.session.cancellation_reason = reg.session.Status.CANCELLED, "講師の急病"
    reg.session.save()
    with pytest.raises(assessments.SessionCancelled):
        record(reg)
    assert not SelfAssessment.objects.exists()


def test_answers_must_be_for_the_course_items_and_one_of_the_four_levels(site):
    reg = registration(numbers=(1, 2))
    for scores, error in [({1: 2, 5: 2}, assessments.ItemNotInCourse), ({"x": 1}, assessments.ItemNotInCourse),
                          ({1: 4}, assessments.ScoreOutOfRange), ({1: -1}, assessments.ScoreOutOfRange),
                          ({1: "many"}, assessments.ScoreOutOfRange), ({1: True}, assessments.ScoreOutOfRange),
                          ({1: None}, assessments.NoAnswers), ({}, assessments.NoAnswers)]:
        with pytest.raises(error):
            assessments.record_self_assessment(registration=reg, kind=Kind.PRE, scores=scores, source=Source.ONLINE)
    assert not SelfAssessment.objects.exists() and not SkillScore.objects.exists()
    record(reg, scores={1: 0, 2: None})  # an unanswered item is left out
    assert answers_of(reg, Kind.PRE) == {1: 0}


def test_a_course_that_names_no_items_asks_all_twelve(site):
    reg = registration()
    assert [item.number for item in assessments.course_items(reg.session.course)] == list(range(1, 13))
    record(reg, scores=all_answers(1))
    assert len(answers_of(reg, Kind.PRE)) == 12


def test_unknown_kind_or_source_is_a_programming_error(site):
    reg = registration()
    with pytest.raises(ValueError):
        assessments.record_self_assessment(registration=reg, kind="middle", scores={1: 1}, source=Source.ONLINE)
    with pytest.raises(ValueError):
        assessments.record_self_assessment(registration=reg, kind=Kind.PRE, scores={1: 1}, source="fax")


# --- The signed link ----------------------------------------------------------------------------------------------


def check_url(reg, kind=Kind.PRE, lang="ja") -> str:
    with translation.override(lang):
        return assessment_path(reg, kind)


def test_links_are_bound_to_registration_and_kind_and_differ_from_registration_links(site):
    reg = registration(status=Status.ATTENDED, starts_in=-timedelta(days=1))
    assert check_url(reg, Kind.PRE) != check_url(reg, Kind.POST)
    assert check_url(reg, Kind.PRE).startswith("/check/") and check_url(reg, lang="en").startswith("/en/check/")
    assert assessment_token(reg, Kind.POST) not in reg.get_manage_url()


def test_tampered_foreign_and_cross_purpose_tokens_are_404(client, site):
    reg = registration()
    token = assessment_token(reg, Kind.PRE)
    other = registration()
    registration_token = reg.get_manage_url().split("/")[-2]
    forged = [
        # Signature changed (not its last character, whose low bits base64 ignores).
        token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:],
        # Payload changed: another registration's payload under this token's signature.
        assessment_token(other, Kind.PRE).rsplit(":", 1)[0] + ":" + token.rsplit(":", 1)[1],
        registration_token,  # the registration page's token: another purpose
        signing.Signer(salt=SALT).sign_object([reg.pk, "not-the-key", "pre"]),  # a guessed key
        signing.Signer(salt=SALT).sign_object([reg.pk, reg.token_key, "middle"]),  # an unknown kind
        signing.Signer(salt="another.salt").sign_object([reg.pk, reg.token_key, "pre"]),
        "garbage",
    ]
    for bad in forged:
        assert client.get(f"/check/{bad}/").status_code == 404, bad
        assert client.get(f"/en/check/{bad}/").status_code == 404, bad
    # …and the other way round: a check token does not open the registration page.
    assert client.get(f"/registrations/{token}/").status_code == 404
    assert client.get(check_url(reg)).status_code == 200
    reg.token_key = "rotated-key"
    reg.save()
    assert client.get(f"/check/{token}/").status_code == 404  # rotating the key revokes the link


def test_expired_links_say_so_with_410(client, site):
    pre_over = registration(status=Status.CONFIRMED, starts_in=-timedelta(hours=3))  # the class has ended
    post_ok = registration(status=Status.ATTENDED, starts_in=-timedelta(days=59))
    post_over = registration(status=Status.ATTENDED, starts_in=-timedelta(days=61))

    response = client.get(check_url(pre_over, Kind.PRE, "en"))
    assert response.status_code == 410
    assert "This link has expired" in response.content.decode()
    assert client.post(check_url(pre_over, Kind.PRE), all_answers()).status_code == 410
    assert client.get(check_url(post_ok, Kind.POST)).status_code == 200
    assert client.get(check_url(post_over, Kind.POST)).status_code == 410
    assert not SelfAssessment.objects.exists()


def test_a_check_the_booking_cannot_have_is_410_with_the_reason(client, site):
    reg = registration(status=Status.CONFIRMED, starts_in=-timedelta(hours=3))  # not marked attended
    response = client.get(check_url(reg, Kind.POST, "en"))
    assert response.status_code == 410
    assert "for people who attended the class" in response.content.decode()


# --- The resident's page --------------------------------------------------------------------------------------


def form_data(scores: dict) -> dict:
    return {f"item_{number}": str(score) for number, score in scores.items()}


def test_the_page_in_japanese_asks_the_course_items_as_radio_groups(client, site):
    reg = registration(numbers=(1, 2, 6))
    response = client.get(check_url(reg))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="ja" class=' in html
    assert "電源を入れ、ロックを解除できる" in html and "LINEで家族にメッセージや写真を送れる" in html
    assert "マイナンバーカード" not in html  # item 9: not taught by this course
    main = html[html.index("<main"):html.index("</main>")]  # the header has the reading-aids form's fieldsets
    assert main.count("<fieldset") == 3 and main.count("<legend>") == 3
    assert len(re.findall(r'<input type="radio" name="item_\d+"', html)) == 12
    assert 'name="robots" content="noindex"' in html
    assert "<script" not in html.split("<main", 1)[1]  # no JavaScript needed


def test_the_page_in_english(client, site):
    reg = registration(numbers=(1, 7))
    html = client.get(check_url(reg, Kind.PRE, "en")).content.decode()
    assert '<html lang="en" class=' in html
    assert "Can-do check before the class" in html
    assert "Switch on and unlock my phone" in html and "Search online and judge whether" in html
    assert "I could teach others" in html


def test_sending_the_answers_records_them_online_and_thanks(client, site):
    reg = registration(numbers=(1, 2, 3))
    address = check_url(reg, Kind.PRE, "en")
    response = client.post(address, form_data({1: 0, 2: 1, 3: 3}))
    assert response.status_code == 302
    assert response["Location"] == address + "done/"
    assessment = SelfAssessment.objects.get(registration=reg)
    assert (assessment.kind, assessment.source, assessment.entered_by) == (Kind.PRE, Source.ONLINE, None)
    assert answers_of(reg, Kind.PRE) == {1: 0, 2: 1, 3: 3}
    thanks = client.get(response["Location"])
    assert thanks.status_code == 200
    assert "Thank you for your answers" in thanks.content.decode()


def test_missing_answers_are_shown_and_nothing_is_saved(client, site):
    reg = registration(numbers=(1, 2, 3))
    with translation.override("en"):
        response = client.post(check_url(reg, Kind.PRE, "en"), form_data({1: 2}))
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="form-errors"' in html and "Please choose one answer." in html
    assert 'href="#id_item_2_0"' in html
    assert 'aria-invalid="true"' in html
    nothing = client.post(check_url(reg, Kind.PRE, "en"), {})
    assert nothing.status_code == 400 and 'id="form-errors"' in nothing.content.decode()
    assert not SelfAssessment.objects.exists()


def test_reopening_shows_the_previous_answers_and_sending_again_overwrites(client, site):
    reg = registration(status=Status.ATTENDED, starts_in=-timedelta(days=1), numbers=(1, 2))
    address = check_url(reg, Kind.POST)
    client.post(address, form_data({1: 1, 2: 1}))
    first = SelfAssessment.objects.get()

    html = client.get(address).content.decode()
    assert re.search(r'<input type="radio" name="item_1" value="1"[^>]* checked', html)
    assert not re.search(r'<input type="radio" name="item_1" value="3"[^>]* checked', html)

    assert client.post(address, form_data({1: 3, 2: 2})).status_code == 302
    assert SelfAssessment.objects.get().pk == first.pk
    assert answers_of(reg, Kind.POST) == {1: 3, 2: 2}


def test_a_double_post_makes_one_assessment(client, site):
    reg = registration(numbers=(1,))
    address = check_url(reg)
    assert client.post(address, form_data({1: 2})).status_code == 302
    assert client.post(address, form_data({1: 2})).status_code == 302
    assert SelfAssessment.objects.count() == 1 and SkillScore.objects.count() == 1


def test_the_thanks_page_without_answers_goes_back_to_the_form(client, site):
    reg = registration()
    address = check_url(reg)
    assert client.get(address + "done/")["Location"] == address


# --- The link in the thank-you e-mail -------------------------------------------------------------------------


def thanks_message(status, *, language="ja", email="hiko@example.jp", phone="") -> OutgoingMessage:
    reg = registration(status=Status.ATTENDED, starts_in=-timedelta(hours=3))
    reg.participant.language, reg.participant.email, reg.participant.phone = language, email, phone
    reg.participant.save()
    message = outbox.build_message(OutgoingMessage.Kind.AFTER_SESSION, reg)
    message.save()
    Registration.objects.filter(pk=reg.pk).update(status=status)
    return OutgoingMessage.objects.select_related(*outbox._RELATED).get(pk=message.pk)


def test_the_thanks_carries_the_after_check_link_for_those_who_attended(client, site):
    message = thanks_message(Status.ATTENDED)
    rendered = emails.render(message)
    link = emails.absolute(check_url(message.registration, Kind.POST))
    assert link in rendered.text
    assert f'href="{link}"' in rendered.html
    # The link opens the "after" check of this registration.
    path = link.removeprefix(emails.base_url())
    assert client.get(path).status_code == 200
    assert client.post(path, form_data(all_answers(3))).status_code == 302
    assert SelfAssessment.objects.get().kind == Kind.POST


def test_the_english_thanks_links_to_the_english_page(site):
    message = thanks_message(Status.ATTENDED, language="en")
    rendered = emails.render(message)
    assert emails.absolute(check_url(message.registration, Kind.POST, "en")) in rendered.text
    assert "Answer the can-do check" in rendered.text


def test_once_answered_the_link_offers_to_see_or_change_the_answers(site):
    message = thanks_message(Status.ATTENDED, language="en")
    record(message.registration, Kind.POST)
    assert "See or change your can-do check answers" in emails.render(message).text


@pytest.mark.parametrize("status", [Status.NO_SHOW, Status.CONFIRMED])
def test_no_link_for_those_who_did_not_attend(site, status):
    message = thanks_message(status)
    rendered = emails.render(message)
    assert "/check/" not in rendered.text and "/check/" not in rendered.html


def test_no_link_on_the_phone_call_list(site):
    message = thanks_message(Status.ATTENDED, email="", phone="09011112222")
    assert message.channel == OutgoingMessage.Channel.PHONE
    assert "/check/" not in emails.render(message).text


def confirmation_message(*, kind=OutgoingMessage.Kind.CONFIRMED, status=Status.CONFIRMED) -> OutgoingMessage:
    reg = registration(status=Status.CONFIRMED)
    reg.participant.language, reg.participant.email = "en", "hiko@example.jp"
    reg.participant.save()
    message = outbox.build_message(kind, reg)
    message.save()
    Registration.objects.filter(pk=reg.pk).update(status=status)
    return OutgoingMessage.objects.select_related(*outbox._RELATED).get(pk=message.pk)


@pytest.mark.parametrize("kind", [OutgoingMessage.Kind.CONFIRMED, OutgoingMessage.Kind.PROMOTED])
def test_the_confirmation_invites_the_before_check(client, site, kind):
    message = confirmation_message(kind=kind)
    rendered = emails.render(message)
    link = emails.absolute(check_url(message.registration, Kind.PRE, "en"))
    assert link in rendered.text and f'href="{link}"' in rendered.html
    assert "Before the class" in rendered.text
    path = link.removeprefix(emails.base_url())
    assert client.post(path, form_data(all_answers(1))).status_code == 302
    assert SelfAssessment.objects.get().kind == Kind.PRE


def test_no_before_check_link_once_the_booking_is_cancelled(site):
    message = confirmation_message(status=Status.CANCELLED)
    assert "/check/" not in emails.render(message).text


# --- The admin: tablet at the class and paper sheets -------------------------------------------------------------


def staff(role: str | None, partner=None, *, username=None):
    """A user in one role group (a member of `partner` for partner roles) whose admin speaks English."""
    user = get_user_model().objects.create_user(username=username or f"u-{role}-{getattr(partner, 'pk', '')}",
                                                password="x")
    if role:
        user.groups.add(Group.objects.get(name=role))
    else:
        user.user_permissions.add(Permission.objects.get(codename="access_admin"))
    if partner is not None:
        add_membership(partner=partner, user=user, role=PARTNER_ROLES[role])
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = "en"
    profile.save()
    return user


def admin_url(name, *args):
    return reverse(f"self_assessment:{name}", args=args)


@pytest.fixture
def world(site):
    """Partners A and B, each with a class that started an hour ago: in A's, one booked person (not marked yet)
    and one attended; in B's, one attended."""
    a, b = factories.partner(), factories.partner()
    booked = registration(partner=a, starts_in=-timedelta(hours=1), numbers=(1, 2, 3, 4))
    session_a = booked.session
    attended = factories.registration(session_obj=session_a, status=Status.ATTENDED,
                                      participant=factories.participant(name="中原 春子", kana="ナカハラ ハルコ"))
    other = registration(partner=b, status=Status.ATTENDED, starts_in=-timedelta(hours=1))
    return {"a": a, "b": b, "session_a": session_a, "booked": booked, "attended": attended, "other": other}


def admin_data(scores: dict) -> dict:
    return {f"check-item_{number}": "" if score is None else str(score) for number, score in scores.items()}


def test_anonymous_visitors_are_sent_to_the_login(client, world):
    reg = world["attended"]
    for address in (admin_url("index"), admin_url("session", reg.session_id),
                    admin_url("enter", reg.pk, "post", "tablet")):
        response = client.get(address)
        assert response.status_code == 302 and response["Location"].startswith(reverse("wagtailadmin_login"))
    assert client.post(admin_url("enter", reg.pk, "post", "tablet"), admin_data(all_answers(2, (1, 2, 3, 4)))
                       ).status_code == 302
    assert not SelfAssessment.objects.exists()


def test_the_instructor_does_the_check_on_the_tablet(client, world):
    instructor = staff(roles.PARTNER_INSTRUCTOR, world["a"])
    client.force_login(instructor)
    session, attended, booked = world["session_a"], world["attended"], world["booked"]

    people = client.get(admin_url("session", session.pk))
    assert people.status_code == 200
    html = people.content.decode()
    assert "中原 春子" in html and NAME in html
    assert admin_url("enter", attended.pk, "post", "tablet") in html
    assert admin_url("enter", booked.pk, "pre", "tablet") in html
    assert admin_url("enter", booked.pk, "post", "tablet") not in html  # not marked attended yet

    page = client.get(admin_url("enter", attended.pk, "post", "tablet"))
    assert page.status_code == 200
    assert page.content.decode().count("<fieldset") == 4
    response = client.post(admin_url("enter", attended.pk, "post", "tablet"), admin_data({1: 3, 2: 2, 3: 1, 4: 0}))
    assert response.status_code == 302
    assert response["Location"].endswith(f"?source=tablet#person-{attended.pk}")
    assessment = SelfAssessment.objects.get(registration=attended)
    assert (assessment.kind, assessment.source, assessment.entered_by) == (Kind.POST, Source.TABLET, instructor)
    assert answers_of(attended, Kind.POST) == {1: 3, 2: 2, 3: 1, 4: 0}
    # Reopened: the answers are shown, and the tablet asks every question.
    html = client.get(admin_url("enter", attended.pk, "post", "tablet")).content.decode()
    assert "Already answered on" in html
    assert re.search(r'name="check-item_1" value="3"[^>]* checked', html)
    incomplete = client.post(admin_url("enter", attended.pk, "post", "tablet"), admin_data({1: 0}))
    assert incomplete.status_code == 400
    assert answers_of(attended, Kind.POST) == {1: 3, 2: 2, 3: 1, 4: 0}


def test_the_tablet_refuses_the_after_check_before_attendance_is_marked(client, world):
    client.force_login(staff(roles.PARTNER_INSTRUCTOR, world["a"]))
    booked = world["booked"]
    page = client.get(admin_url("enter", booked.pk, "post", "tablet"))
    assert page.status_code == 200 and "for people who attended the class" in page.content.decode()
    assert "<fieldset" not in page.content.decode()
    assert client.post(admin_url("enter", booked.pk, "post", "tablet"),
                       admin_data(all_answers(2, (1, 2, 3, 4)))).status_code == 400
    assert not SelfAssessment.objects.exists()


@pytest.mark.parametrize("role", list(PARTNER_ROLES))
def test_partner_b_gets_404_on_partner_a(client, world, role):
    client.force_login(staff(role, world["b"]))
    session, attended = world["session_a"], world["attended"]
    assert client.get(admin_url("session", session.pk)).status_code == 404
    for kind in ("pre", "post"):
        for source in ("tablet", "paper"):
            address = admin_url("enter", attended.pk, kind, source)
            assert client.get(address).status_code == 404, address
            assert client.post(address, admin_data(all_answers(2, (1, 2, 3, 4)))).status_code == 404, address
    assert not SelfAssessment.objects.exists()
    index = client.get(admin_url("index"))
    assert index.status_code == 200
    assert admin_url("session", session.pk) not in index.content.decode()
    assert admin_url("session", world["other"].session_id) in index.content.decode()
    # The registration number of A's booking is "not found" for B, as any unknown number.
    found = client.get(admin_url("index"), {"registration": attended.pk})
    assert found.status_code == 400 and "No booking with this number" in found.content.decode()


def test_the_call_centre_types_in_paper_sheets_for_any_partner(client, world):
    operator = staff(roles.CALL_CENTRE_OPERATOR)
    client.force_login(operator)
    attended = world["attended"]
    found = client.get(admin_url("index"), {"registration": attended.pk})
    assert found.status_code == 302
    assert found["Location"] == f"{admin_url('session', attended.session_id)}?source=paper#person-{attended.pk}"
    html = client.get(found["Location"]).content.decode()
    assert admin_url("enter", attended.pk, "pre", "paper") in html

    address = admin_url("enter", attended.pk, "pre", "paper")
    assert client.get(address).status_code == 200
    # A question left blank on the sheet stays blank.
    response = client.post(address, admin_data({1: 1, 2: None, 3: 0, 4: None}))
    assert response.status_code == 302
    assessment = SelfAssessment.objects.get()
    assert (assessment.kind, assessment.source, assessment.entered_by) == (Kind.PRE, Source.PAPER, operator)
    assert answers_of(attended, Kind.PRE) == {1: 1, 3: 0}
    # An empty sheet is not saved.
    nothing = client.post(admin_url("enter", world["other"].pk, "post", "paper"), admin_data(
        dict.fromkeys(range(1, 13))))
    assert nothing.status_code == 400
    assert SelfAssessment.objects.count() == 1


def test_partner_staff_type_in_their_own_paper_sheets(client, world):
    manager = staff(roles.PARTNER_MANAGER, world["a"])
    client.force_login(manager)
    booked = world["booked"]
    assert client.post(admin_url("enter", booked.pk, "pre", "paper"), admin_data({1: 2})).status_code == 302
    assert SelfAssessment.objects.get().source == Source.PAPER


def test_view_only_and_unprivileged_users(client, world):
    attended = world["attended"]
    client.force_login(staff(roles.CITY_ANALYST))
    assert client.get(admin_url("session", attended.session_id)).status_code == 200
    html = client.get(admin_url("session", attended.session_id)).content.decode()
    assert admin_url("enter", attended.pk, "post", "tablet") not in html
    response = client.post(admin_url("enter", attended.pk, "post", "tablet"), admin_data(all_answers(2, (1, 2, 3, 4))))
    assert response.status_code == 302 and response["Location"] == reverse("wagtailadmin_home")
    assert not SelfAssessment.objects.exists()

    client.force_login(staff(None))
    for address in (admin_url("index"), admin_url("session", attended.session_id)):
        assert refused_page(client.get(address)), address


def test_unknown_kind_or_source_is_404(client, world):
    client.force_login(staff(roles.CITY_PROGRAMME_OFFICER))
    attended = world["attended"]
    assert client.get(admin_url("enter", attended.pk, "middle", "tablet")).status_code == 404
    assert client.get(admin_url("enter", attended.pk, "post", "fax")).status_code == 404
    assert client.get(admin_url("enter", attended.pk, "post", "paper")).status_code == 200


@pytest.mark.parametrize(("role", "shown"), [(roles.PARTNER_INSTRUCTOR, True), (roles.CALL_CENTRE_OPERATOR, True),
                                             (None, False)])
def test_the_outreach_menu_offers_the_checks_to_those_let_in(client, world, role, shown):
    client.force_login(staff(role, world["a"] if role in PARTNER_ROLES else None))
    assert (admin_url("index") in client.get(reverse("wagtailadmin_home")).content.decode()) is shown


def count_queries(client, address) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(address).status_code == 200
    return len(queries)


# The tablet page's queries: Django's session and user, the user's permissions and groups, the partner scope,
# the registration with its session and course, its assessment and answers, the course's items; plus the admin's
# own (menus, profile). Fixed, whatever the number of questions.
TABLET_PAGE_QUERY_BUDGET = 16


def test_the_tablet_page_makes_a_fixed_number_of_queries(client, world):
    client.force_login(staff(roles.PARTNER_INSTRUCTOR, world["a"]))
    few = world["attended"]  # 4 questions, nothing answered yet
    many = registration(partner=world["a"], status=Status.ATTENDED, starts_in=-timedelta(hours=1))  # 12 questions
    record(many, Kind.POST, scores=all_answers(1))
    client.get(admin_url("enter", few.pk, "post", "tablet"))  # warm up the per-process caches

    few_count = count_queries(client, admin_url("enter", few.pk, "post", "tablet"))
    many_count = count_queries(client, admin_url("enter", many.pk, "post", "tablet"))
    assert few_count == many_count
    assert many_count <= TABLET_PAGE_QUERY_BUDGET, many_count


def test_the_session_list_makes_a_fixed_number_of_queries(client, world):
    client.force_login(staff(roles.PARTNER_INSTRUCTOR, world["a"]))
    session = world["session_a"]
    client.get(admin_url("session", session.pk))
    few = count_queries(client, admin_url("session", session.pk))
    for _ in range(6):
        reg = factories.registration(session_obj=session, status=Status.ATTENDED)
        record(reg, Kind.PRE, scores={1: 1})
    assert count_queries(client, admin_url("session", session.pk)) == few
