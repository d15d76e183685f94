"""Delivery reports come back (issue 17 part 4): SendGrid's Event Webhook and Twilio's status callback, each
signed and checked with the provider's own helper, update the message; a hard bounce, a spam report or a number
that cannot get SMS marks the contact undeliverable and moves the message to the next channel; a STOP reply turns
SMS off. Messages are sent for real through the official clients to the fake servers (every request validated
against the providers' specs), so the custom args and SIDs the events carry are the ones the backends sent.

Event payloads follow SendGrid's published Event Webhook reference (docs.sendgrid.com, "Event Webhook Reference":
the fields email, timestamp, event, sg_event_id, sg_message_id, smtp-id, reason, status, type,
bounce_classification, response, and unique custom args at the top level of each event) and Twilio's ("Track the
Message Status of Outbound Messages" / "Webhooks (HTTP callbacks)": MessageSid, SmsSid, MessageStatus, SmsStatus,
ErrorCode, AccountSid, From, To, ApiVersion; incoming messages with Body and OptOutType). SendGrid signs with ECDSA
P-256 over timestamp + body; the sendgrid package verifies with `cryptography` (it no longer uses starkbank-ecdsa),
so the test key pair is made with `cryptography` too.
"""

import base64
import json
import time
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from twilio.request_validator import RequestValidator

from cms import sms
from courses import delivery_events, outbox
from courses.models import OutgoingMessage, Registration, UndeliverableContact
from courses.notifications import Event, notify
from tests import factories
from tests.fake_twilio import AUTH_TOKEN, validate

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

Kind, Status, Channel = OutgoingMessage.Kind, OutgoingMessage.Status, OutgoingMessage.Channel
Delivery = OutgoingMessage.DeliveryStatus
NotifyBy = Registration.NotifyBy
SITE = "https://dekiru.city.example.jp"  # the configured address; the test client's host (testserver) differs
EVENTS_URL, STATUS_URL, INCOMING_URL = "/hooks/sendgrid/events", "/hooks/twilio/status", "/hooks/twilio/incoming"


# --- Keys and signing, as the providers do it --------------------------------------------------------------------

PRIVATE_KEY = ec.generate_private_key(ec.SECP256R1())
# SendGrid shows the verification key as the base64 of the DER public key (the PEM body, one line).
PUBLIC_KEY = "".join(PRIVATE_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode().splitlines()[1:-1])


def sendgrid_signature(body: bytes, timestamp: str, key=PRIVATE_KEY) -> str:
    return base64.b64encode(key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()


def post_events(client, events, *, timestamp=None, signature=None, body=None):
    body = body if body is not None else json.dumps(events).encode()
    timestamp = timestamp if timestamp is not None else str(int(time.time()))
    headers = {"X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
               "X-Twilio-Email-Event-Webhook-Signature":
                   signature if signature is not None else sendgrid_signature(body, timestamp)}
    return client.post(EVENTS_URL, body, content_type="application/json", headers=headers)


def post_twilio(client, path, params, *, signature=None, token=AUTH_TOKEN):
    signed = MultiValueDict({name: value if isinstance(value, list) else [value] for name, value in params.items()})
    signature = signature if signature is not None else RequestValidator(token).compute_signature(SITE + path, signed)
    return client.post(path, params, headers={"X-Twilio-Signature": signature})


@pytest.fixture
def hooks(settings, site, fake_sendgrid, fake_twilio):
    settings.WAGTAILADMIN_BASE_URL = SITE
    settings.SENDGRID_EVENT_WEBHOOK_PUBLIC_KEY = PUBLIC_KEY
    return settings


def booking(*, email="", phone="09012345678", notify_by=NotifyBy.EMAIL, consent=True, session=None):
    participant = factories.participant(email=email, phone=phone)
    registration = factories.registration(
        session_obj=session or factories.session(), participant=participant, notify_by=notify_by,
        sms_consented_at=timezone.now() if consent else None)
    notify(Event.REGISTRATION_CONFIRMED, registration=registration, session=registration.session)
    return registration


def sent_email(fake_sendgrid, *, email="hanako@example.jp", phone="09012345678"):
    """A confirmation e-mail sent through the fake SendGrid; the message and the custom args SendGrid got."""
    registration = booking(email=email, phone=phone)
    assert outbox.send_due_messages() == {Status.SENT: 1}
    message = OutgoingMessage.objects.get(registration=registration)
    [personalization] = fake_sendgrid.messages[-1]["body"]["personalizations"]
    return message, personalization["custom_args"]


def sent_sms(fake_twilio, *, phone="09012345678", email=""):
    registration = booking(email=email, phone=phone, notify_by=NotifyBy.SMS)
    assert outbox.send_due_messages() == {Status.SENT: 1}
    message = OutgoingMessage.objects.get(registration=registration)
    assert message.channel == Channel.SMS and message.provider_message_id == fake_twilio.messages[-1]["sid"]
    return message, fake_twilio.messages[-1]["form"]


def sendgrid_event(kind, message, args, **fields):
    """One event as SendGrid's reference shows it, with our custom args at the top level."""
    event = {"email": message.to_email, "timestamp": int(time.time()), "event": kind,
             "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>", "sg_event_id": f"sg-{kind}-{message.pk}",
             "sg_message_id": f"{message.sendgrid_message_id}.filter0001.16648.5515E0B88.0", **args}
    return {**event, **fields}


def status_params(message, state, *, code=None):
    params = {"AccountSid": "AC" + "0" * 31 + "1", "ApiVersion": "2010-04-01", "From": "+815012345678",
              "To": sms.e164(message.to_phone), "MessageSid": message.provider_message_id,
              "SmsSid": message.provider_message_id, "MessageStatus": state, "SmsStatus": state}
    if code is not None:
        params["ErrorCode"] = str(code)
    return params


def incoming_params(body, *, sender="+819012345678", **extra):
    return {"ToCountry": "JP", "SmsMessageSid": "SM" + "1" * 32, "NumMedia": "0", "SmsSid": "SM" + "1" * 32,
            "SmsStatus": "received", "Body": body, "FromCountry": "JP", "To": "+815012345678", "NumSegments": "1",
            "MessageSid": "SM" + "1" * 32, "AccountSid": "AC" + "0" * 31 + "1", "From": sender,
            "ApiVersion": "2010-04-01", **extra}


def fallbacks(message):
    return list(OutgoingMessage.objects.filter(fallback_of=message))


# --- SendGrid: the signature --------------------------------------------------------------------------------------


def test_the_custom_args_sendgrid_gets_identify_the_row(hooks, fake_sendgrid):
    message, args = sent_email(fake_sendgrid)
    assert args == {"dekiru_outbox_id": str(message.pk), "dekiru_key": message.key, "dekiru_attempt": "1"}


def test_without_a_public_key_the_endpoint_is_off(hooks, client):
    hooks.SENDGRID_EVENT_WEBHOOK_PUBLIC_KEY = ""
    assert post_events(client, []).status_code == 404


@pytest.mark.parametrize("case", ["missing", "wrong key", "tampered", "not base64", "stale", "future",
                                  "timestamp not a number", "no timestamp"])
def test_a_bad_or_stale_signature_is_refused_and_nothing_changes(hooks, client, fake_sendgrid, case):
    message, args = sent_email(fake_sendgrid)
    body = json.dumps([sendgrid_event("spamreport", message, args)]).encode()
    now = str(int(time.time()))
    old = str(int(time.time()) - 11 * 60)
    kwargs = {
        "missing": {"signature": ""},
        "wrong key": {"signature": sendgrid_signature(body, now, ec.generate_private_key(ec.SECP256R1()))},
        "tampered": {"signature": sendgrid_signature(body.replace(b"spamreport", b"delivered"), now)},
        "not base64": {"signature": "%%%not-base64\x01"},
        "stale": {"timestamp": old, "signature": sendgrid_signature(body, old)},
        "future": {"timestamp": str(int(time.time()) + 3600),
                   "signature": sendgrid_signature(body, str(int(time.time()) + 3600))},
        "timestamp not a number": {"timestamp": "12e3", "signature": sendgrid_signature(body, "12e3")},
        "no timestamp": {"timestamp": "", "signature": sendgrid_signature(body, "")},
    }[case]
    assert post_events(client, None, body=body, **kwargs).status_code == 403
    message.refresh_from_db()
    assert message.delivery_status == "" and not UndeliverableContact.objects.exists() and not fallbacks(message)


def test_only_post(hooks, client):
    assert client.get(EVENTS_URL).status_code == 405


# --- SendGrid: every event kind ----------------------------------------------------------------------------------


def test_delivered(hooks, client, fake_sendgrid):
    message, args = sent_email(fake_sendgrid)
    assert post_events(client, [sendgrid_event("delivered", message, args, response="250 OK")]).status_code == 200
    message.refresh_from_db()
    assert message.delivery_status == Delivery.DELIVERED and message.delivery_status_at
    assert not UndeliverableContact.objects.exists() and not fallbacks(message)


def test_a_hard_bounce_marks_the_address_and_the_message_continues_on_the_call_list(hooks, client, fake_sendgrid):
    message, args = sent_email(fake_sendgrid)
    event = sendgrid_event("bounce", message, args, reason="550 5.1.1 The email account that you tried to reach "
                           "does not exist.", status="5.1.1", type="bounce", bounce_classification="Invalid Address")
    assert post_events(client, [event]).status_code == 200
    message.refresh_from_db()
    assert message.delivery_status == Delivery.BOUNCED and message.status == Status.SENT
    assert "550 5.1.1" in message.delivery_detail and "sg-bounce" in message.delivery_detail
    contact = UndeliverableContact.objects.get()
    assert (contact.kind, contact.address) == ("email", "hanako@example.jp") and "550 5.1.1" in contact.reason
    [fallback] = fallbacks(message)
    assert fallback.key == f"{message.key}:via=phone" and fallback.channel == Channel.PHONE
    assert fallback.status == Status.TO_CALL and fallback.kind == message.kind
    assert fallback.to_phone == "09012345678" and fallback.registration_id == message.registration_id


def test_a_soft_bounce_is_recorded_but_the_address_is_not_marked(hooks, client, fake_sendgrid):
    message, args = sent_email(fake_sendgrid)
    event = sendgrid_event("bounce", message, args, reason="421 4.7.0 Try again later", status="4.7.0",
                           type="blocked", bounce_classification="Reputation")
    assert post_events(client, [event]).status_code == 200
    message.refresh_from_db()
    assert message.delivery_status == Delivery.BOUNCED and "421 4.7.0 Try again later" in message.delivery_detail
    assert not UndeliverableContact.objects.exists()
    assert len(fallbacks(message)) == 1  # this message did not arrive: it still reaches the resident


@pytest.mark.parametrize(("reason", "bad"), [("Bounced Address", True), ("Invalid", True),
                                             ("Spam Reporting Address", True), ("Invalid SMTPAPI header", False)])
def test_dropped(hooks, client, fake_sendgrid, reason, bad):
    message, args = sent_email(fake_sendgrid)
    assert post_events(client, [sendgrid_event("dropped", message, args, reason=reason,
                                               status="5.0.0")]).status_code == 200
    message.refresh_from_db()
    assert message.delivery_status == Delivery.DROPPED and reason in message.delivery_detail
    assert UndeliverableContact.objects.filter(kind="email", address=message.to_email).exists() == bad
    assert len(fallbacks(message)) == 1


def test_a_spam_report_marks_the_address_and_moves_the_message_once(hooks, client, fake_sendgrid):
    message, args = sent_email(fake_sendgrid)
    events = [sendgrid_event("spamreport", message, args)]
    assert post_events(client, events).status_code == 200
    assert post_events(client, events).status_code == 200  # SendGrid sends it again: one fallback, one contact
    message.refresh_from_db()
    assert message.delivery_status == Delivery.SPAM_REPORT
    assert UndeliverableContact.objects.filter(kind="email", address="hanako@example.jp").count() == 1
    assert len(fallbacks(message)) == 1
    assert message.delivery_detail.count("[sg-spamreport-") == 1  # the line is not repeated either


def test_delivered_never_hides_a_failure_reported_before_it(hooks, client, fake_sendgrid):
    message, args = sent_email(fake_sendgrid)
    post_events(client, [sendgrid_event("bounce", message, args, reason="550 unknown", type="bounce")])
    post_events(client, [sendgrid_event("delivered", message, args)])
    message.refresh_from_db()
    assert message.delivery_status == Delivery.BOUNCED


def test_events_of_no_interest_and_of_other_rows_are_ignored(hooks, client, fake_sendgrid):
    message, args = sent_email(fake_sendgrid)
    other, _ = sent_email(fake_sendgrid, email="jiro@example.jp", phone="09087654321")
    events = [
        sendgrid_event("open", message, args), sendgrid_event("click", message, args, url="https://x"),
        sendgrid_event("processed", message, args), sendgrid_event("deferred", message, args),
        # An id without the matching key (another environment's row with the same number, or a guess): ignored.
        sendgrid_event("spamreport", message, {**args, "dekiru_outbox_id": str(other.pk)}),
        sendgrid_event("spamreport", message, {"dekiru_outbox_id": str(message.pk)}),  # no key at all
        sendgrid_event("spamreport", message, {}),  # not sent by Dekiru (no custom args)
        sendgrid_event("spamreport", message, {**args, "dekiru_outbox_id": "999999999"}),
    ]
    assert post_events(client, events).status_code == 200
    for row in (message, other):
        row.refresh_from_db()
        assert row.delivery_status == "" and not fallbacks(row)
    assert not UndeliverableContact.objects.exists()


def test_a_fallback_is_not_queued_for_a_message_that_no_longer_makes_sense(hooks, client, fake_sendgrid):
    message, args = sent_email(fake_sendgrid)
    Registration.objects.filter(pk=message.registration_id).update(status=Registration.Status.CANCELLED)
    post_events(client, [sendgrid_event("bounce", message, args, reason="550 unknown", type="bounce")])
    message.refresh_from_db()
    assert message.delivery_status == Delivery.BOUNCED and not fallbacks(message)
    assert UndeliverableContact.objects.exists()  # the address is still bad
    assert delivery_events._staff_text(outbox.Obsolete.REGISTRATION_CANCELLED) in message.delivery_detail


def test_a_batch_reads_a_fixed_number_of_queries(hooks, client, fake_sendgrid, django_assert_num_queries):
    sent = [sent_email(fake_sendgrid, email=f"p{i}@example.jp", phone=f"0901111000{i}") for i in range(3)]
    events = [sendgrid_event("delivered", message, args) for message, args in sent]
    # in_bulk of the batch's rows, one UPDATE for every delivered
    with django_assert_num_queries(2):
        assert post_events(client, events).status_code == 200
    assert OutgoingMessage.objects.filter(delivery_status=Delivery.DELIVERED).count() == 3


def test_a_bounce_reads_a_fixed_number_of_queries(hooks, client, fake_sendgrid, django_assert_num_queries):
    message, args = sent_email(fake_sendgrid)
    event = sendgrid_event("bounce", message, args, reason="550 unknown", type="bounce")
    # in_bulk; in a savepoint: the row locked with its registration, participant and session; the contact; the
    # fallback (one INSERT … ON CONFLICT DO NOTHING RETURNING); the report's UPDATE
    with django_assert_num_queries(7):
        assert post_events(client, [event]).status_code == 200
    with django_assert_num_queries(5):  # again (in_bulk; savepoint, the row, the contact's INSERT … ON CONFLICT DO
        # NOTHING): the same event changes nothing
        assert post_events(client, [event]).status_code == 200


@pytest.mark.parametrize("body", [
    b"", b"null", b"{}", b'"x"', b"[1, 2, null, true]", b"not json", b"\xff\xfe\x00", b"[" * 5000 + b"]" * 5000,
    json.dumps([{"event": "bounce", "dekiru_outbox_id": 1, "dekiru_key": ["x"], "type": {"a": 1}}]).encode(),
    json.dumps([{"event": ["delivered"], "dekiru_outbox_id": "1" * 40, "dekiru_key": "x"}]).encode(),
    json.dumps([{"event": "spamreport", "dekiru_outbox_id": "１２", "dekiru_key": "\x00"}]).encode(),
    json.dumps([{"event": "bounce", "type": "bounce", "reason": "\x00" * 100_000, "dekiru_outbox_id": "1",
                 "dekiru_key": "k\x00"}] * 50).encode(),
])
def test_signed_junk_is_never_a_server_error(hooks, client, body):
    assert post_events(client, None, body=body).status_code in (200, 400)


def test_a_reason_with_nul_bytes_and_a_huge_text_is_stored_cleaned(hooks, client, fake_sendgrid):
    message, args = sent_email(fake_sendgrid)
    event = sendgrid_event("bounce", message, args, reason="550\x00 unknown " + "x" * 100_000, type="bounce")
    assert post_events(client, [event]).status_code == 200
    message.refresh_from_db()
    assert "\x00" not in message.delivery_detail and len(message.delivery_detail) <= delivery_events.DETAIL_MAX
    assert "550 unknown" in message.delivery_detail


# --- Twilio: the status callback -----------------------------------------------------------------------------------


def test_every_sms_asks_for_the_status_callback_at_the_configured_address(hooks, fake_twilio):
    _message, form = sent_sms(fake_twilio)
    assert form["StatusCallback"] == SITE + STATUS_URL  # and the fake server found the request valid (spec)


@pytest.mark.parametrize("address", ["http://127.0.0.1:8000", "http://localhost:8000", "https://my_host.example"])
def test_no_status_callback_where_twilio_could_not_reach_it(hooks, fake_twilio, address):
    hooks.WAGTAILADMIN_BASE_URL = address
    _message, form = sent_sms(fake_twilio)
    assert "StatusCallback" not in form


def test_the_status_callback_can_be_switched_off(hooks, fake_twilio):
    hooks.DEKIRU_TWILIO_STATUS_CALLBACK = False
    _message, form = sent_sms(fake_twilio)
    assert "StatusCallback" not in form


def test_the_fake_twilio_refuses_a_status_callback_twilio_would_refuse():
    path = "/2010-04-01/Accounts/AC" + "0" * 31 + "1/Messages.json"
    headers = {"content-type": "application/x-www-form-urlencoded",
               "authorization": "Basic " + base64.b64encode(b"AC:token").decode()}
    good = b"To=%2B819012345678&From=%2B815012345678&Body=x&StatusCallback=https%3A%2F%2Fa.example%2Fhooks"
    assert validate("POST", path, headers, good) == []
    assert validate("POST", path, headers, good.replace(b"https%3A%2F%2Fa.example", b"not%20a%20url"))
    assert validate("POST", path, headers, good.replace(b"a.example", b"my_host.example"))


def test_twilio_hooks_are_off_without_an_auth_token(hooks, client):
    hooks.DEKIRU_TWILIO_AUTH_TOKEN = ""
    assert client.post(STATUS_URL, {}).status_code == 404
    assert client.post(INCOMING_URL, {}).status_code == 404


@pytest.mark.parametrize("case", ["missing", "wrong token", "tampered", "request host"])
def test_a_bad_twilio_signature_is_refused(hooks, client, fake_twilio, case):
    message, _form = sent_sms(fake_twilio)
    params = status_params(message, "undelivered", code=30005)
    if case == "missing":
        response = post_twilio(client, STATUS_URL, params, signature="")
    elif case == "wrong token":
        response = post_twilio(client, STATUS_URL, params, token="another-token")
    elif case == "tampered":
        signature = RequestValidator(AUTH_TOKEN).compute_signature(SITE + STATUS_URL, params)
        response = post_twilio(client, STATUS_URL, {**params, "ErrorCode": "30006"}, signature=signature)
    else:  # signed for the host the request arrived at, not the address Twilio was given
        signature = RequestValidator(AUTH_TOKEN).compute_signature("http://testserver" + STATUS_URL, params)
        response = post_twilio(client, STATUS_URL, params, signature=signature)
    assert response.status_code == 403
    message.refresh_from_db()
    assert message.delivery_status == "" and not fallbacks(message)


def test_sms_delivered(hooks, client, fake_twilio):
    message, _form = sent_sms(fake_twilio)
    for state in ("queued", "sent"):  # intermediate states: nothing to record
        assert post_twilio(client, STATUS_URL, status_params(message, state)).status_code == 204
    message.refresh_from_db()
    assert message.delivery_status == ""
    assert post_twilio(client, STATUS_URL, status_params(message, "delivered")).status_code == 204
    message.refresh_from_db()
    assert message.delivery_status == Delivery.DELIVERED


@pytest.mark.parametrize(("state", "code"), [("undelivered", 30005), ("undelivered", 30006), ("failed", 21614),
                                             ("failed", 21211)])
def test_a_number_that_cannot_get_sms_is_marked_and_the_message_moves(hooks, client, fake_twilio, state, code):
    message, _form = sent_sms(fake_twilio, email="hanako@example.jp")
    params = status_params(message, state, code=code)
    assert post_twilio(client, STATUS_URL, params).status_code == 204
    assert post_twilio(client, STATUS_URL, params).status_code == 204  # twice: once
    message.refresh_from_db()
    assert message.delivery_status == Delivery.UNDELIVERED and str(code) in message.delivery_detail
    assert UndeliverableContact.objects.get().address == "09012345678"
    [fallback] = fallbacks(message)
    assert fallback.channel == Channel.EMAIL and fallback.status == Status.PENDING
    assert fallback.key == f"{message.key}:via=email"


@pytest.mark.parametrize("code", [30003, 30007, 30008, None])
def test_other_sms_failures_move_the_message_without_marking_the_number(hooks, client, fake_twilio, code):
    message, _form = sent_sms(fake_twilio)
    assert post_twilio(client, STATUS_URL, status_params(message, "undelivered", code=code)).status_code == 204
    message.refresh_from_db()
    assert message.delivery_status == Delivery.UNDELIVERED and not UndeliverableContact.objects.exists()
    [fallback] = fallbacks(message)
    assert fallback.channel == Channel.PHONE and fallback.status == Status.TO_CALL


def test_21610_means_the_resident_sent_stop(hooks, client, fake_twilio):
    message, _form = sent_sms(fake_twilio)
    other = booking(phone="09012345678", notify_by=NotifyBy.SMS)  # another booking of the same resident's number
    assert post_twilio(client, STATUS_URL, status_params(message, "failed", code=21610)).status_code == 204
    message.refresh_from_db()
    assert "STOP" in message.delivery_detail
    assert not Registration.objects.filter(pk__in=[message.registration_id, other.pk],
                                           sms_consented_at__isnull=False).exists()
    assert not UndeliverableContact.objects.exists()  # the number is fine for a call
    assert len(fallbacks(message)) == 1


def test_a_status_for_an_unknown_sid_changes_nothing(hooks, client, fake_twilio):
    message, _form = sent_sms(fake_twilio)
    params = {**status_params(message, "undelivered", code=30005), "MessageSid": "SM" + "f" * 32}
    assert post_twilio(client, STATUS_URL, params).status_code == 204
    message.refresh_from_db()
    assert message.delivery_status == "" and not UndeliverableContact.objects.exists()


def test_the_status_callback_reads_a_fixed_number_of_queries(hooks, client, fake_twilio, django_assert_num_queries):
    message, _form = sent_sms(fake_twilio)
    with django_assert_num_queries(2):  # the row by SID; the UPDATE
        post_twilio(client, STATUS_URL, status_params(message, "delivered"))
    other, _form = sent_sms(fake_twilio, phone="09087654321")
    # the row by SID; in a savepoint: the row locked with its registration, participant and session; the contact;
    # the fallback (one INSERT … ON CONFLICT DO NOTHING RETURNING); the report's UPDATE
    with django_assert_num_queries(7):
        post_twilio(client, STATUS_URL, status_params(other, "undelivered", code=30005))


@pytest.mark.parametrize("params", [
    {}, {"MessageSid": "\x00" * 50, "MessageStatus": "failed", "ErrorCode": "\x00"},
    {"MessageSid": "SM" + "x" * 10_000, "MessageStatus": "undelivered", "ErrorCode": "9" * 500},
    {"MessageSid": ["a", "b"], "MessageStatus": ["delivered", "failed"]},
    {"MessageStatus": "delivered"}, {"SmsSid": "SM1", "SmsStatus": "undelivered", "ErrorCode": "-1"},
])
def test_signed_junk_status_is_never_a_server_error(hooks, client, params):
    assert post_twilio(client, STATUS_URL, params).status_code == 204


def test_an_unreadable_body_is_a_400_not_a_500(hooks, client):
    response = client.post(STATUS_URL, b"--x\r\nbroken", content_type="multipart/form-data; boundary=x",
                           headers={"X-Twilio-Signature": "x"})
    assert response.status_code in (400, 403)


# --- Twilio: incoming STOP / START ---------------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["STOP", "stop", " Stop. ", "ＳＴＯＰ", "停止", "ストップ", "UNSUBSCRIBE"])
def test_stop_turns_sms_off_for_the_bookings_with_that_number(hooks, client, word):
    mine = booking(phone="09012345678", notify_by=NotifyBy.SMS)
    someone_else = booking(phone="09087654321", notify_by=NotifyBy.SMS)
    response = post_twilio(client, INCOMING_URL, incoming_params(word))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/xml")
    assert response.content.decode() == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
    mine.refresh_from_db()
    someone_else.refresh_from_db()
    assert mine.sms_consented_at is None and someone_else.sms_consented_at is not None


def test_stop_reaches_a_booking_made_by_family(hooks, client):
    registration = booking(phone="", email="", notify_by=NotifyBy.SMS)
    Registration.objects.filter(pk=registration.pk).update(booker_phone="08011112222", booker_name="川崎 一郎")
    post_twilio(client, INCOMING_URL, incoming_params("STOP", sender="+818011112222"))
    registration.refresh_from_db()
    assert registration.sms_consented_at is None


def test_start_turns_it_on_again_for_those_who_chose_sms(hooks, client):
    chose_sms = booking(phone="09012345678", notify_by=NotifyBy.SMS)
    chose_email = booking(phone="09012345678", email="a@example.jp", notify_by=NotifyBy.EMAIL, consent=False)
    post_twilio(client, INCOMING_URL, incoming_params("停止"))
    chose_sms.refresh_from_db()
    assert chose_sms.sms_consented_at is None
    post_twilio(client, INCOMING_URL, incoming_params("START"))
    chose_sms.refresh_from_db()
    chose_email.refresh_from_db()
    assert chose_sms.sms_consented_at is not None and chose_email.sms_consented_at is None


def test_twilio_advanced_opt_out_type_is_trusted(hooks, client):
    registration = booking(phone="09012345678", notify_by=NotifyBy.SMS)
    post_twilio(client, INCOMING_URL, incoming_params("やめて", OptOutType="STOP"))
    registration.refresh_from_db()
    assert registration.sms_consented_at is None


def test_other_replies_change_nothing_and_a_bad_signature_is_refused(hooks, client):
    registration = booking(phone="09012345678", notify_by=NotifyBy.SMS)
    assert post_twilio(client, INCOMING_URL, incoming_params("ありがとう")).status_code == 200
    assert post_twilio(client, INCOMING_URL, incoming_params("STOP"), signature="bad").status_code == 403
    registration.refresh_from_db()
    assert registration.sms_consented_at is not None


def test_incoming_reads_a_fixed_number_of_queries(hooks, client, django_assert_num_queries):
    for _ in range(3):
        booking(phone="09012345678", notify_by=NotifyBy.SMS)
    with django_assert_num_queries(1):  # one UPDATE of the bookings with that number
        post_twilio(client, INCOMING_URL, incoming_params("STOP"))


@pytest.mark.parametrize("params", [
    {}, {"Body": "\x00STOP", "From": "\x00"}, {"Body": "STOP", "From": "+81" + "9" * 5000},
    {"Body": "STOP" * 10_000, "From": "+819012345678"}, {"Body": ["STOP", "START"], "From": "+819012345678"},
    {"Body": "STOP", "From": "+1 415 555 0100"}, {"Body": "STOP", "From": "09012345678"},
])
def test_signed_junk_incoming_is_never_a_server_error(hooks, client, params):
    assert post_twilio(client, INCOMING_URL, params).status_code == 200


# --- The message log -----------------------------------------------------------------------------------------------


def test_the_log_shows_the_delivery_and_filters_by_it(hooks, client, fake_sendgrid):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    bounced, args = sent_email(fake_sendgrid)
    delivered, delivered_args = sent_email(fake_sendgrid, email="jiro@example.jp", phone="09087654321")
    post_events(client, [sendgrid_event("bounce", bounced, args, reason="550 5.1.1 unknown user", type="bounce"),
                         sendgrid_event("delivered", delivered, delivered_args)])
    officer = get_user_model().objects.create_user("officer", password="pw")
    officer.groups.add(Group.objects.get(name="City programme officer"))
    client.force_login(officer)
    body = client.get("/admin/messages/?delivery=bounced").content.decode()
    assert "hanako@example.jp" in body and "jiro@example.jp" not in body
    assert "550 5.1.1 unknown user" in body and 'class="message-undeliverable ' in body
    body = client.get("/admin/messages/?delivery=delivered").content.decode()
    assert "jiro@example.jp" in body and "hanako@example.jp" not in body
    assert client.get("/admin/messages/?delivery=%00nonsense").status_code in (200, 400)


def test_partner_staff_see_the_delivery_of_their_messages_masked(hooks, client, fake_sendgrid):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from partners.services import add_membership

    mine, theirs = factories.partner(), factories.partner()
    own, own_args = sent_email(fake_sendgrid)
    OutgoingMessage.objects.filter(pk=own.pk).update(session=factories.session(organiser=mine))
    other, other_args = sent_email(fake_sendgrid, email="jiro@example.jp", phone="09087654321")
    OutgoingMessage.objects.filter(pk=other.pk).update(session=factories.session(organiser=theirs))
    post_events(client, [
        sendgrid_event("bounce", own, own_args, reason="550 hanako@example.jp unknown", type="bounce"),
        sendgrid_event("bounce", other, other_args, reason="550 jiro@example.jp unknown", type="bounce")])
    manager = get_user_model().objects.create_user("manager", password="pw")
    manager.groups.add(Group.objects.get(name="Partner manager"))
    add_membership(partner=mine, user=manager, role="manager")
    client.force_login(manager)
    body = client.get("/admin/messages/?delivery=bounced").content.decode()
    assert "550 ha***@example.jp unknown" in body and "hanako@example.jp" not in body
    assert "jiro" not in body and "ji***" not in body


def test_fallback_rows_from_events_are_sent_like_any_other(hooks, client, fake_sendgrid, fake_twilio):
    message, _form = sent_sms(fake_twilio, email="hanako@example.jp")
    post_twilio(client, STATUS_URL, status_params(message, "undelivered", code=30006))
    assert outbox.send_due_messages(now=timezone.now() + timedelta(seconds=1)) == {Status.SENT: 1}
    [personalization] = fake_sendgrid.messages[-1]["body"]["personalizations"]
    assert personalization["custom_args"]["dekiru_key"] == f"{message.key}:via=email"
