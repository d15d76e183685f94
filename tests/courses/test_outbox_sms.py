"""The channel-aware outbox and SMS: the resident's choice picks the channel, in the stated fallback order; SMS go
through the official twilio client to the fake Twilio server (every request checked against Twilio's OpenAPI spec);
an invalid number falls back to the next channel, 429 is retried, a timeout is noted as "may have been sent"."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone, translation

from courses import outbox, sms_texts
from courses.models import OutgoingMessage, Registration
from courses.notifications import Event, notify
from tests import factories
from tests.fake_twilio import validate

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

Kind, Status, Channel = OutgoingMessage.Kind, OutgoingMessage.Status, OutgoingMessage.Channel
NotifyBy = Registration.NotifyBy


def later(**delta):
    return timezone.now() + timedelta(**delta)


def booking(*, notify_by=NotifyBy.SMS, phone="09012345678", email="", consent=True, session=None, **fields):
    participant = factories.participant(phone=phone, email=email)
    registration = factories.registration(
        session_obj=session or factories.session(), participant=participant, notify_by=notify_by,
        sms_consented_at=timezone.now() if consent else None, **fields)
    notify(Event.REGISTRATION_CONFIRMED, registration=registration, session=registration.session)
    return registration


# --- Choosing the channel ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("notify_by", "email", "phone", "consent", "expected"), [
    (NotifyBy.SMS, "", "09012345678", True, Channel.SMS),
    (NotifyBy.SMS, "a@example.jp", "08012345678", True, Channel.SMS),
    (NotifyBy.SMS, "a@example.jp", "0441234567", True, Channel.EMAIL),  # a landline: no SMS
    (NotifyBy.SMS, "", "09012345678", False, Channel.PHONE),  # no consent recorded
    (NotifyBy.EMAIL, "a@example.jp", "09012345678", True, Channel.EMAIL),
    (NotifyBy.CALL, "a@example.jp", "09012345678", True, Channel.PHONE),
    (None, "a@example.jp", "09012345678", False, Channel.EMAIL),  # booked before the question: as before
    (None, "", "09012345678", False, Channel.PHONE),
    (NotifyBy.EMAIL, "", "07012345678", True, Channel.SMS),  # no address after all: SMS with consent
])
def test_the_channel_follows_the_choice_in_the_stated_order(site, fake_twilio, notify_by, email, phone, consent,
                                                             expected):
    registration = booking(notify_by=notify_by, email=email, phone=phone, consent=consent)
    message = OutgoingMessage.objects.get(registration=registration)
    assert message.channel == expected
    assert message.status == (Status.TO_CALL if expected == Channel.PHONE else Status.PENDING)


def test_without_twilio_credentials_sms_is_off_and_the_call_list_takes_it(site, settings):
    settings.DEKIRU_SMS_BACKEND = None
    settings.DEKIRU_TWILIO_ACCOUNT_SID = settings.DEKIRU_TWILIO_AUTH_TOKEN = settings.DEKIRU_TWILIO_FROM = ""
    settings.EMAIL_BACKEND = "cms.mail.SendGridBackend"
    registration = booking()
    assert OutgoingMessage.objects.get(registration=registration).channel == Channel.PHONE


def test_the_demo_prints_sms_in_the_terminal(site, settings, capsys):
    settings.DEKIRU_SMS_BACKEND = None
    settings.DEKIRU_TWILIO_ACCOUNT_SID = ""
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    registration = booking()
    assert outbox.send_due_messages() == {Status.SENT: 1}
    out = capsys.readouterr().out
    assert "SMS to +819012345678" in out and registration.reference_display in out


# --- Sending ---------------------------------------------------------------------------------------------------


def test_a_resident_with_only_a_mobile_number_gets_the_confirmation_by_sms(site, fake_twilio, client):
    registration = booking()
    assert outbox.send_due_messages() == {Status.SENT: 1}
    [sent] = fake_twilio.sent_to("+819012345678")
    body = sent["form"]["Body"]
    assert body.startswith("【できる】予約を受け付けました")
    link = f"/s/{registration.pk}-{registration.token_key}/"
    assert registration.reference_display in body and link in body
    response = client.get(link)
    assert (response.status_code, response["Location"]) == (302, registration.get_manage_url())
    assert client.get(f"/s/{registration.pk}-{'x' * 22}/").status_code == 404
    assert client.get("/s/nonsense/").status_code == 404
    assert sms_texts.segments(body).count <= 2
    message = OutgoingMessage.objects.get()
    assert (message.status, message.channel, message.provider_message_id) == (Status.SENT, Channel.SMS, sent["sid"])
    assert message.body_text == body
    assert fake_twilio.invalid == []


def test_an_invalid_number_falls_back_to_the_call_list(site, fake_twilio):
    fake_twilio.invalid_numbers.add("+819012345678")
    registration = booking()
    assert outbox.send_due_messages() == {Status.FAILED: 1}
    sms, call = OutgoingMessage.objects.filter(registration=registration).order_by("pk")
    assert (sms.channel, sms.status) == (Channel.SMS, Status.FAILED)
    assert "21211" in sms.last_error
    assert (call.channel, call.status, call.fallback_of) == (Channel.PHONE, Status.TO_CALL, sms)
    assert call.key == f"{sms.key}:via=phone"
    assert outbox.retry(sms) is False, "the message continued on the call list: no second SMS"


def test_an_invalid_number_falls_back_to_email_when_there_is_an_address(site, fake_twilio, fake_sendgrid):
    fake_twilio.fail_next(400, code=21614)  # not a mobile number
    registration = booking(email="hanako@example.jp")
    assert outbox.send_due_messages() == {Status.FAILED: 1, Status.SENT: 1}
    sms, email = OutgoingMessage.objects.filter(registration=registration).order_by("pk")
    assert (sms.status, email.channel, email.status, email.fallback_of) == (
        Status.FAILED, Channel.EMAIL, Status.SENT, sms)
    assert len(fake_sendgrid.sent_to("hanako@example.jp")) == 1


def test_rate_limited_sms_is_retried(site, fake_twilio):
    fake_twilio.fail_next(429, code=20429)
    booking()
    assert outbox.send_due_messages() == {Status.PENDING: 1}
    message = OutgoingMessage.objects.get()
    assert message.last_error.startswith("429") and message.uncertain_attempts == 0
    assert outbox.send_due_messages(now=later(days=1)) == {Status.SENT: 1}
    assert len(fake_twilio.messages) == 1


def test_a_server_error_then_success(site, fake_twilio):
    fake_twilio.fail_next(503)
    booking()
    assert outbox.send_due_messages() == {Status.PENDING: 1}
    assert outbox.send_due_messages(now=later(days=1)) == {Status.SENT: 1}


def test_an_sms_answered_after_the_timeout_is_marked_possibly_duplicate(site, fake_twilio):
    booking()
    fake_twilio.stall_next(2)  # DEKIRU_TWILIO_TIMEOUT is 1 s
    assert outbox.send_due_messages() == {Status.PENDING: 1}
    fake_twilio.wait_for(1)  # Twilio accepted it after the worker gave up
    assert outbox.send_due_messages(now=later(days=1)) == {Status.SENT: 1}
    message = OutgoingMessage.objects.get()
    assert message.status == Status.SENT and message.uncertain_attempts == 1
    assert "no answer from Twilio within 1 s" in message.uncertain_note
    assert len(fake_twilio.messages) == 2


def test_giving_up_on_sms_falls_back(site, fake_twilio, settings):
    settings.DEKIRU_MAIL_MAX_ATTEMPTS = 2
    fake_twilio.fail_next(500, times=2)
    registration = booking()
    assert outbox.send_due_messages() == {Status.PENDING: 1}
    assert outbox.send_due_messages(now=later(days=1)) == {Status.FAILED: 1}
    assert list(OutgoingMessage.objects.filter(registration=registration).order_by("pk")
                .values_list("channel", "status")) == [(Channel.SMS, Status.FAILED), (Channel.PHONE, Status.TO_CALL)]


def test_the_fake_server_rejects_what_twilios_spec_rejects():
    headers = {"content-type": "application/x-www-form-urlencoded", "authorization": "Basic eDp5"}
    path = "/2010-04-01/Accounts/AC00000000000000000000000000000001/Messages.json"
    assert validate("POST", path, headers, b"To=%2B819012345678&From=%2B815012345678&Body=hi") == []
    assert validate("POST", path, headers, b"From=%2B815012345678&Body=hi"), "To is required"


# --- The texts ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["ja", "en"])
@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_fits_in_two_segments(site, settings, kind, language):
    settings.WAGTAILADMIN_BASE_URL = "https://dekiru.city.kawasaki.lg.jp"  # as long as the city's address may be
    course = factories.course(
        title="はじめてのスマートフォン教室（アンドロイド編）　写真の撮り方と送り方・LINEの使い方",
        title_en="Your first smartphone class (Android): taking and sending photos, using LINE")
    session = factories.session(course_page=course)
    registration = factories.registration(session_obj=session, participant=factories.participant(language=language),
                                          status=Registration.Status.WAITLISTED if kind == Kind.WAITLISTED
                                          else Registration.Status.CONFIRMED)
    message = OutgoingMessage(key="k", kind=kind, channel=Channel.SMS, registration=registration, session=session,
                              language=language, to_phone="09012345678", context={})
    text = sms_texts.render_sms(message)
    count = sms_texts.segments(text)
    assert count.count <= sms_texts.MAX_SEGMENTS, (text, count)
    if kind != Kind.AFTER_SESSION:
        assert registration.reference_display in text
    with translation.override(language):
        assert ("【できる】" in text) == (language == "ja")


def test_segment_counting():
    assert sms_texts.segments("a" * 160) == sms_texts.Segments("GSM-7", 160, 1)
    assert sms_texts.segments("a" * 161).count == 2
    assert sms_texts.segments("[" * 80).units == 160  # extension characters count twice
    assert sms_texts.segments("あ" * 70) == sms_texts.Segments("UCS-2", 70, 1)
    assert sms_texts.segments("あ" * 71).count == 2
    assert sms_texts.segments("あ" * 134).count == 2
    assert sms_texts.segments("あ" * 135).count == 3
    assert sms_texts.segments("😀" * 35).units == 70  # outside the BMP: two UTF-16 units each


def test_staff_see_every_attempt_per_channel_in_the_log(site, fake_twilio, client):
    fake_twilio.invalid_numbers.add("+819012345678")
    booking()
    assert outbox.send_due_messages() == {Status.FAILED: 1}
    sms = OutgoingMessage.objects.get(channel=Channel.SMS)
    officer = get_user_model().objects.create_user("officer", password="pw")
    officer.groups.add(Group.objects.get(name="City programme officer"))
    client.force_login(officer)
    page = client.get("/admin/messages/").content.decode()
    assert f"送れなかったお知らせ {sms.pk} の代わり" in page and "21211" in page
    assert client.get("/admin/messages/?channel=sms").content.decode().count("message-recipient") == 1


# --- From the public form to the resident's phone -------------------------------------------------------------------


def test_the_web_form_with_only_a_mobile_number_and_sms_chosen_sends_the_confirmation_by_sms(site, fake_twilio,
                                                                                            client):
    """The whole path: the form (review, then register) records the choice and the consent time, and the
    confirmation goes out as an SMS through the twilio client to the fake server, not onto the call list."""
    from tests.courses.test_registration_review import form_data, hidden_fields, url

    session = factories.session()
    data = form_data(phone="090-1234-5678", email="", notify_by="sms", sms_consent="on")
    page = client.post(url(session, "ja"), data)
    assert page.status_code == 200
    response = client.post(url(session, "ja"), hidden_fields(page.content.decode()) | {"step": "register"})
    assert response.status_code == 302
    registration = Registration.objects.get()
    assert registration.notify_by == NotifyBy.SMS and registration.sms_consented_at is not None
    assert outbox.send_due_messages() == {Status.SENT: 1}
    [sent] = fake_twilio.sent_to("+819012345678")
    assert registration.reference_display in sent["form"]["Body"]
    assert not OutgoingMessage.objects.filter(channel=Channel.PHONE).exists()
    assert fake_twilio.invalid == []
