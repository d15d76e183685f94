"""The follow-up a month after the class (outreach.followups): when it is queued and to whom, by which channel and
with what text, the resident's signed form, staff entry (paper, phone, tablet), and the outcome figures with their
small-cell suppression."""

import importlib
import re
from datetime import timedelta

import pytest
import time_machine
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils import timezone, translation
from wagtail.users.models import UserProfile

from cms import roles
from courses import emails, sms_texts, tokens
from courses.models import OutgoingMessage, Registration
from outreach import followups, metrics, suppression
from outreach.followup_forms import field_name
from outreach.models import FollowUp, FollowUpAnswer, FollowUpTask, SelfAssessment, SkillItem, SkillScore
from partners.models import PartnerMembership
from partners.services import add_membership
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

Kind, Channel, MStatus = OutgoingMessage.Kind, OutgoingMessage.Channel, OutgoingMessage.Status
Status, Answer = Registration.Status, FollowUpAnswer.Answer
SEED = importlib.import_module("outreach.migrations.0009_follow_up")


@pytest.fixture(autouse=True)
def seeded(db):
    """The follow-up questions and frameworks of the data migration (a flushed database may have lost them)."""
    if not FollowUpTask.objects.exists():
        SEED.load(apps, None)


@pytest.fixture(autouse=True)
def follow_up_subject():
    """courses.emails names a subject per kind; until it has the follow-up's (see the report), use this one."""
    if Kind.FOLLOW_UP in emails.SUBJECTS:
        yield
        return
    emails.SUBJECTS[Kind.FOLLOW_UP] = "A month after the class: %(course)s"
    yield
    del emails.SUBJECTS[Kind.FOLLOW_UP]


def attended(*, ended_days_ago=30, status=Status.ATTENDED, partner=None, course=None, participant=None, **person):
    """A registration of `status` in a session that ended `ended_days_ago` days (and a minute) ago."""
    partner = partner or factories.partner()
    course = course or factories.course(owner=partner)
    session = factories.session(course_page=course, organiser=partner,
                                starts_in=-timedelta(days=ended_days_ago, hours=2, minutes=1))
    participant = participant or factories.participant(**person)
    return factories.registration(session_obj=session, status=status, participant=participant)


def all_answers(value=Answer.YES) -> dict:
    return {task.pk: value for task in followups.asked_tasks()}


def form_data(value="yes") -> dict:
    return {field_name(task): value for task in followups.asked_tasks()}


# --- Queueing ---------------------------------------------------------------------------------------------------


def test_one_follow_up_is_queued_thirty_days_after_attending(site):
    registration = attended(ended_days_ago=29, email="hana@example.jp")
    assert followups.queue_follow_ups() == 0, "not yet: 29 days"
    with time_machine.travel(timezone.now() + timedelta(days=1), tick=False):
        assert followups.queue_follow_ups() == 1
        assert followups.queue_follow_ups() == 0, "once only"
    message = OutgoingMessage.objects.get(kind=Kind.FOLLOW_UP)
    assert message.key == f"follow_up:reg={registration.pk}"
    assert (message.channel, message.status) == (Channel.EMAIL, MStatus.PENDING)
    assert message.context["follow_up_url"].endswith(followups.follow_up_path(registration))
    assert message.context["follow_up_url"].startswith("http")
    assert message.context["follow_up_questions"][0] == "オンライン申請やマイナポータルを使った"


def test_the_number_of_days_is_a_setting(site, settings):
    settings.DEKIRU_FOLLOW_UP_DAYS = 10
    attended(ended_days_ago=10, email="a@example.jp")
    assert followups.queue_follow_ups() == 1


def test_who_is_not_asked(site):
    attended(status=Status.NO_SHOW, email="a@example.jp")
    attended(status=Status.CONFIRMED, email="b@example.jp")
    attended(ended_days_ago=90, email="c@example.jp")  # long ago: switching the feature on writes to nobody old
    answered = attended(email="d@example.jp")
    followups.record_follow_up(registration=answered, answers=all_answers(), source=FollowUp.Source.TABLET)
    cancelled = attended(email="e@example.jp")
    cancelled.session.status = cancelled.session.Status.CANCELLED
    cancelled.session.cancellation_reason = "講師の体調不良のため"
    cancelled.session.save()
    assert followups.queue_follow_ups() == 0


def test_once_per_person_per_course(site):
    """Two sessions of one course (a series): one follow-up, about the earlier one."""
    partner = factories.partner()
    course = factories.course(owner=partner)
    person = factories.participant(email="s@example.jp")
    first = attended(ended_days_ago=33, partner=partner, course=course, participant=person)
    attended(ended_days_ago=31, partner=partner, course=course, participant=person)
    assert followups.queue_follow_ups() == 1
    assert OutgoingMessage.objects.get(kind=Kind.FOLLOW_UP).registration == first
    assert followups.queue_follow_ups() == 0


def test_queueing_takes_a_fixed_number_of_queries(site, django_assert_max_num_queries):
    for n in range(6):
        attended(email=f"q{n}@example.jp")
    with django_assert_max_num_queries(6):
        assert followups.queue_follow_ups() == 6


def test_the_command_queues_and_beats(site, capsys):
    from django.core.management import call_command

    attended(email="cmd@example.jp")
    call_command("queue_follow_ups")
    assert "Queued 1 follow-up(s)." in capsys.readouterr().out


# --- Channels and texts -----------------------------------------------------------------------------------------


def queued_message(**person) -> OutgoingMessage:
    attended(**person)
    followups.queue_follow_ups()
    return OutgoingMessage.objects.select_related("registration__session__course").get(kind=Kind.FOLLOW_UP)


def test_without_email_or_sms_it_goes_on_the_call_list_with_the_questions_to_read_out(site):
    message = queued_message(email="", phone="0441234567")
    assert (message.channel, message.status) == (Channel.PHONE, MStatus.TO_CALL)
    text = emails.render(message).text
    assert "オンライン申請やマイナポータルを使った" in text and "ビデオ通話をした" in text
    assert "http" not in text, "staff read it out: no link"
    assert "ひとりでできた" in text


def test_sms_with_consent(site, settings):
    settings.DEKIRU_SMS_BACKEND = "console"
    registration = attended(email="", phone="09011112222")
    registration.sms_consented_at = timezone.now()
    registration.save()
    followups.queue_follow_ups()
    message = OutgoingMessage.objects.get(kind=Kind.FOLLOW_UP)
    assert message.channel == Channel.SMS


@pytest.mark.parametrize("language", ["ja", "en"])
def test_the_sms_carries_the_link_in_two_segments(site, settings, language):
    settings.WAGTAILADMIN_BASE_URL = "https://dekiru.city.kawasaki.lg.jp"
    course = factories.course(title="はじめてのスマートフォン教室（アンドロイド編）　写真の撮り方と送り方・"
                                    "LINEの使い方",
                              title_en="Your first smartphone class (Android): taking and sending photos, using LINE")
    message = queued_message(course=course, language=language, email="", phone="0441234567")
    text = sms_texts.render_sms(message)
    assert message.context["follow_up_url"] in text
    assert message.registration.reference_display in text
    assert sms_texts.segments(text).count <= sms_texts.MAX_SEGMENTS, (text, sms_texts.segments(text))


@pytest.mark.parametrize("language", ["ja", "en"])
def test_the_email_has_the_questions_and_the_link(site, language):
    message = queued_message(email="mail@example.jp", language=language)
    rendered = emails.render(message)
    assert message.context["follow_up_url"] in rendered.text
    assert message.context["follow_up_url"] in rendered.html
    question = "Made a video call" if language == "en" else "ビデオ通話をした"
    assert question in rendered.text and question in rendered.html
    if language == "en":
        assert "/en/follow-up/" in message.context["follow_up_url"]


# --- The service ------------------------------------------------------------------------------------------------


def test_recording_and_replacing(site):
    registration = attended()
    first = followups.record_follow_up(registration=registration, answers=all_answers(Answer.NOT_YET),
                                       source=FollowUp.Source.ONLINE)
    second = followups.record_follow_up(registration=registration, answers=all_answers(Answer.YES),
                                        source=FollowUp.Source.PAPER)
    assert first.pk == second.pk and FollowUp.objects.count() == 1
    assert set(FollowUpAnswer.objects.values_list("answer", flat=True)) == {Answer.YES}
    assert FollowUp.objects.get().source == FollowUp.Source.PAPER


@pytest.mark.parametrize("answers", [
    {}, "missing-one", {"x": "yes"}, "bad-value",
])
def test_every_question_needs_one_of_the_four_answers(site, answers):
    registration = attended()
    full = all_answers()
    if answers == "missing-one":
        answers = dict(list(full.items())[1:])
    elif answers == "bad-value":
        answers = {**full, next(iter(full)): "maybe\x00"}
    with pytest.raises(followups.InvalidAnswers):
        followups.record_follow_up(registration=registration, answers=answers, source=FollowUp.Source.ONLINE)
    assert not FollowUp.objects.exists()


def test_only_for_attendees(site):
    with pytest.raises(followups.NotAttended):
        followups.record_follow_up(registration=attended(status=Status.NO_SHOW), answers=all_answers(),
                                   source=FollowUp.Source.PAPER)


# --- The resident's form ----------------------------------------------------------------------------------------


def test_the_form_starts_empty_and_requires_every_answer(client, site):
    registration = attended()
    address = followups.follow_up_path(registration)
    page = client.get(address)
    assert page.status_code == 200
    html = page.content.decode()
    assert not re.search(r'name="task_\d+"[^>]*checked', html), "no answer is chosen for the resident"
    assert len(re.findall(r'type="radio" name="task_', html)) == 4 * len(followups.asked_tasks())
    response = client.post(address, {})
    assert response.status_code == 400
    body = response.content.decode()
    assert 'id="form-errors"' in body and "答えを1つ選んでください" in body
    assert not FollowUp.objects.exists()


def test_the_resident_answers_and_can_change(client, site):
    registration = attended()
    address = followups.follow_up_path(registration)
    response = client.post(address, form_data("with_help"))
    assert response.status_code == 302 and response["Location"].endswith("/done/")
    assert client.get(response["Location"]).status_code == 200
    follow_up = FollowUp.objects.get()
    assert follow_up.source == FollowUp.Source.ONLINE
    again = client.get(address).content.decode()
    assert re.search(r'name="task_\d+" value="with_help"[^>]*checked', again), again
    client.post(address, form_data("yes"))
    assert FollowUp.objects.get().pk == follow_up.pk
    assert set(FollowUpAnswer.objects.values_list("answer", flat=True)) == {"yes"}


def test_english(client, site):
    registration = attended()
    with translation.override("en"):
        address = followups.follow_up_path(registration)
    assert address.startswith("/en/")
    page = client.get(address).content.decode()
    assert "Made a video call" in page and "Yes, on my own" in page


def test_bad_links(client, site):
    registration = attended()
    token = followups.follow_up_token(registration)
    pk, _sep, mac = token.partition("-")
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    for bad in (f"{pk}-{flipped}", f"{int(pk) + 1}-{mac}", "x", f"{pk}-", "-" + mac, "1" * 40 + "-" + mac,
                tokens.registration_token(registration),
                "é" * 200):
        response = client.get(f"/follow-up/{bad}/")
        assert response.status_code == 404, bad
    assert client.get(f"/follow-up/{pk}-{mac}\x00/").status_code == 400  # cms.middleware refuses NUL bytes
    registration.token_key = "rotated" + registration.token_key[7:]
    registration.save()
    assert client.get(f"/follow-up/{token}/").status_code == 404, "a rotated key revokes the link"


def test_expired_and_not_yet_open(client, site, settings):
    registration = attended()
    address = followups.follow_up_path(registration)
    with time_machine.travel(followups.link_expires_at(registration) + timedelta(minutes=1), tick=False):
        response = client.get(address)
    assert response.status_code == 410
    assert client.post(address, form_data()).status_code in (200, 302)  # now it is open again
    future = attended(ended_days_ago=-3)  # a session still to come
    assert client.get(followups.follow_up_path(future)).status_code == 410


def test_not_attended_is_410(client, site):
    registration = attended(status=Status.NO_SHOW)
    response = client.get(followups.follow_up_path(registration))
    assert response.status_code == 410
    assert "出席" in response.content.decode()


@pytest.mark.parametrize("value", ["\x00", "yes\x00", "y" * 10000, "", "0"])
def test_fuzzed_answers_are_form_errors(client, site, value):
    registration = attended()
    data = form_data()
    data[next(iter(data))] = value
    response = client.post(followups.follow_up_path(registration), data)
    assert response.status_code == 400
    assert not FollowUp.objects.exists()


def test_the_form_page_query_count(client, site, django_assert_max_num_queries):
    registration = attended()
    address = followups.follow_up_path(registration)
    client.get(address)
    with django_assert_max_num_queries(12):
        assert client.get(address).status_code == 200


# --- Staff entry ------------------------------------------------------------------------------------------------

PARTNER_ROLES = {roles.PARTNER_MANAGER: PartnerMembership.Role.MANAGER,
                 roles.PARTNER_INSTRUCTOR: PartnerMembership.Role.INSTRUCTOR}


def staff(role, partner=None):
    user = get_user_model().objects.create_user(username=f"u-{role}-{getattr(partner, 'pk', '')}", password="x")
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
    return reverse(f"follow_up:{name}", args=args)


def admin_data(value="yes"):
    return {f"follow_up-{name}": answer for name, answer in form_data(value).items()}


def test_staff_type_in_a_phone_answer(client, site):
    partner = factories.partner()
    registration = attended(partner=partner)
    client.force_login(staff(roles.PARTNER_MANAGER, partner))
    assert client.get(admin_url("index")).status_code == 200
    people = client.get(admin_url("session", registration.session_id))
    assert people.status_code == 200 and admin_url("enter", registration.pk, "phone") in people.content.decode()
    form = client.get(admin_url("enter", registration.pk, "phone"))
    assert form.status_code == 200
    assert client.post(admin_url("enter", registration.pk, "phone"), {}).status_code == 400
    response = client.post(admin_url("enter", registration.pk, "phone"), admin_data("not_yet"))
    assert response.status_code == 302
    follow_up = FollowUp.objects.get()
    assert follow_up.source == FollowUp.Source.PHONE and follow_up.entered_by is not None
    found = client.get(admin_url("index"), {"registration": registration.pk})
    assert found.status_code == 302 and found["Location"] == admin_url("enter", registration.pk, "paper")


def test_partner_staff_cannot_enter_for_another_partner(client, site):
    a, b = factories.partner(), factories.partner()
    other = attended(partner=b)
    client.force_login(staff(roles.PARTNER_MANAGER, a))
    assert client.get(admin_url("enter", other.pk, "paper")).status_code == 404
    assert client.post(admin_url("enter", other.pk, "paper"), admin_data()).status_code == 404
    assert client.get(admin_url("session", other.session_id)).status_code == 404
    assert not FollowUp.objects.exists()


def test_staff_without_the_permissions_are_refused(client, site):
    registration = attended()
    client.force_login(staff(None))
    response = client.get(admin_url("enter", registration.pk, "paper"))
    assert response.status_code in (302, 403)
    assert not FollowUp.objects.exists()


def test_staff_session_page_query_count(client, site, django_assert_max_num_queries):
    partner = factories.partner()
    first = attended(partner=partner)
    for _n in range(5):
        factories.registration(session_obj=first.session, status=Status.ATTENDED)
    client.force_login(staff(roles.PARTNER_MANAGER, partner))
    client.get(admin_url("session", first.session_id))
    with django_assert_max_num_queries(25) as captured:
        assert client.get(admin_url("session", first.session_id)).status_code == 200
    few = len(captured.captured_queries)
    for _n in range(5):
        factories.registration(session_obj=first.session, status=Status.ATTENDED)
    with django_assert_max_num_queries(few):
        client.get(admin_url("session", first.session_id))


# --- Figures ----------------------------------------------------------------------------------------------------


def answered_people(n, *, answer=Answer.YES, band="70-74", partner=None, pre=None, sent=True):
    """n attendees who answered every question with `answer` (and, with `pre`, the score of every item before)."""
    registrations = []
    for _i in range(n):
        registration = attended(partner=partner, age_band=band, email="p@example.jp")
        followups.record_follow_up(registration=registration, answers=all_answers(answer),
                                   source=FollowUp.Source.PAPER)
        if pre is not None:
            assessment = SelfAssessment.objects.create(registration=registration, kind="pre", source="paper")
            SkillScore.objects.bulk_create([SkillScore(assessment=assessment, item=item, score=pre)
                                            for item in SkillItem.objects.all()])
        registrations.append(registration)
    return registrations


def test_response_rate_and_suppression(site):
    for _n in range(12):
        attended(email="x@example.jp")
    followups.queue_follow_ups()
    answered_people(0)
    registrations = list(Registration.objects.filter(status=Status.ATTENDED)[:10])
    for registration in registrations:
        followups.record_follow_up(registration=registration, answers=all_answers(), source=FollowUp.Source.ONLINE)
    # 12 asked, 10 answered, 2 not: the 2 are below the threshold, so the answered count (12 − 2) is hidden too.
    outcomes = followups.outcomes(metrics.Filters())
    assert (outcomes.asked, outcomes.answered) == (12, 10)
    assert outcomes.answered_hidden and outcomes.response_rate is None
    for registration in Registration.objects.filter(status=Status.ATTENDED)[10:]:
        followups.record_follow_up(registration=registration, answers=all_answers(), source=FollowUp.Source.ONLINE)
    outcomes = followups.outcomes(metrics.Filters())
    assert not outcomes.answered_hidden and outcomes.response_rate == 100.0


def test_share_on_their_own_by_age_band_with_suppression(site):
    # 65–74: 10 people, 6 "yes", 3 "not yet", 1 "no need" → 6 / 9 = 66.7 %; 75+: 3 people → hidden, and with it
    # (secondary suppression) another cell of the row, so 75+ cannot be worked out from the total.
    answered_people(6, answer=Answer.YES, band="70-74")
    answered_people(3, answer=Answer.NOT_YET, band="65-69")
    answered_people(1, answer=Answer.NO_NEED, band="70-74")
    answered_people(3, answer=Answer.YES, band="80-84")
    outcomes = followups.outcomes(metrics.Filters())
    by_band = outcomes.breakdowns[0]
    keys = [key for key, _label in by_band.columns]
    task, cells, total = by_band.rows[0]
    cell = dict(zip(keys, cells, strict=True))
    assert cell["65-74"].share == pytest.approx(66.7) and cell["65-74"].base == 9
    assert cell["75+"].hidden and cell["75+"].base == 3
    assert cell["65-74"].hidden or total.hidden, "secondary suppression"
    assert cell["u65"].base == 0 and not cell["u65"].hidden


def test_change_from_before(site):
    # 10 people who could not use the related items before (score 0) and now do it on their own: 0 % → 100 %.
    answered_people(10, answer=Answer.YES, pre=0)
    outcomes = followups.outcomes(metrics.Filters())
    changes = {change.task.slug: change for change in outcomes.changes}
    assert "cashless" not in changes, "no related can-do item: no comparison"
    video = changes["video_call"]
    assert (video.people, video.before, video.after, video.points) == (10, 0.0, 100.0, 100.0)
    answered_people(3, answer=Answer.NOT_YET, pre=3)
    changes = {change.task.slug: change for change in followups.outcomes(metrics.Filters()).changes}
    # 13 people: before 3 / 13 = 23.1 %, after 10 / 13 = 76.9 %: +53.8 points
    assert changes["video_call"].points == pytest.approx(53.8)


def test_small_change_groups_are_hidden(site):
    answered_people(4, answer=Answer.YES, pre=0)
    change = next(c for c in followups.outcomes(metrics.Filters()).changes if c.task.slug == "video_call")
    assert change.hidden and change.points is None


def test_scope_limits_the_figures(site):
    a, b = factories.partner(), factories.partner()
    answered_people(10, partner=a)
    answered_people(10, partner=b)
    outcomes = followups.outcomes(metrics.Filters(scope=frozenset({a.pk})))
    assert outcomes.answered == 10


def test_outcomes_take_a_fixed_number_of_queries(site, django_assert_num_queries):
    answered_people(3, pre=1)
    followups.outcomes(metrics.Filters())
    with django_assert_num_queries(13):
        followups.outcomes(metrics.Filters())
    answered_people(10, band="80-84", pre=2)
    with django_assert_num_queries(13):
        followups.outcomes(metrics.Filters())


def test_threshold_is_the_published_one(settings, site):
    settings.DEKIRU_SUPPRESSION_THRESHOLD = 3
    answered_people(3)
    assert suppression.threshold() == 3
    assert not followups.outcomes(metrics.Filters()).answered_hidden


def test_the_answers_are_in_the_personal_data_export(site):
    from outreach.followup_personal_data import follow_ups_section

    registration = attended()
    followups.record_follow_up(registration=registration, answers=all_answers(Answer.WITH_HELP),
                               source=FollowUp.Source.PHONE)
    [record] = follow_ups_section(registration.participant).records()
    assert record["registration"] == registration.pk and len(record["answers"]) == 5
    assert record["answers"][0]["answer"] == "手伝ってもらってできた"
