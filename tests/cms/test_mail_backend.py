"""The SendGrid e-mail backend against the fake SendGrid server: real HTTP, no mocked client."""

import json
import logging
import socket
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from email.mime.text import MIMEText
from email.utils import format_datetime
from urllib.error import HTTPError

import pytest
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection, send_mail

from cms.mail import (
    MailError,
    PermanentMailError,
    SendGridBackend,
    TransientMailError,
    build_mail,
    parse_retry_after,
)
from tests.fake_sendgrid import FAKE_API_KEY, FakeSendGrid, validate_mail_send

pytestmark = pytest.mark.clock

ICS = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Dekiru//JA\r\nSUMMARY:スマホ教室\r\nEND:VCALENDAR\r\n"


def message(**overrides) -> EmailMultiAlternatives:
    fields = {
        "subject": "【できる】スマホ教室のご予約を受け付けました",
        "body": "山田 太郎 様\n\nご予約ありがとうございます。",
        "from_email": "Dekiru <no-reply@example.jp>",
        "to": ["山田 太郎 <taro@example.jp>"],
    } | overrides
    return EmailMultiAlternatives(**fields)


def send(msg, **backend_options) -> int:
    return get_connection(**backend_options).send_messages([msg])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post(server, body, *, key=FAKE_API_KEY):
    """POST a raw body to the fake server; (status, parsed JSON answer)."""
    request = urllib.request.Request(
        server.url + "/v3/mail/send", data=body if isinstance(body, bytes) else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_settings_point_django_at_the_fake_server(fake_sendgrid, settings):
    assert isinstance(get_connection(), SendGridBackend)  # pytest-django's locmem backend is overridden
    assert get_connection().host == fake_sendgrid.url

    assert send_mail("件名", "本文", None, ["hanako@example.jp"]) == 1

    [sent] = fake_sendgrid.sent_to("hanako@example.jp")
    assert sent["body"]["from"] == {"name": "Dekiru", "email": "no-reply@example.jp"}  # DEFAULT_FROM_EMAIL
    assert sent["headers"]["Authorization"] == "Bearer SG.test-key"


def test_japanese_text_and_html_with_calendar_attachment(fake_sendgrid):
    msg = message(reply_to=["講座事務局 <office@example.jp>"], headers={"X-Dekiru-Message": "42"})
    msg.attach_alternative("<p>山田 太郎 様</p><p>ご予約ありがとうございます。</p>", "text/html")
    msg.attach("invite.ics", ICS, "text/calendar; method=PUBLISH")
    msg.attach("地図.pdf", b"%PDF-1.4 \x00\xff binary", "application/pdf")

    assert send(msg) == 1

    [sent] = fake_sendgrid.messages
    body = sent["body"]
    assert body["from"] == {"name": "Dekiru", "email": "no-reply@example.jp"}
    assert body["personalizations"] == [{"to": [{"name": "山田 太郎", "email": "taro@example.jp"}]}]
    assert body["subject"] == "【できる】スマホ教室のご予約を受け付けました"
    assert body["reply_to"] == {"name": "講座事務局", "email": "office@example.jp"}
    assert [part["type"] for part in body["content"]] == ["text/plain", "text/html"]
    assert body["content"][0]["value"] == msg.body
    assert body["headers"] == {"X-Dekiru-Message": "42"}
    ics, pdf = fake_sendgrid.attachments(sent)  # in the message's order
    assert (ics.filename, ics.type, ics.content) == ("invite.ics", "text/calendar; method=PUBLISH", ICS.encode())
    assert (pdf.filename, pdf.type, pdf.content) == ("地図.pdf", "application/pdf", b"%PDF-1.4 \x00\xff binary")
    assert msg.sendgrid_message_id == sent["message_id"]
    assert len(msg.sendgrid_message_id) == 22


def test_many_recipients_with_display_names(fake_sendgrid):
    msg = message(
        to=["山田 太郎 <taro@example.jp>", "hanako@example.jp", '"Suzuki, Ichiro" <ichiro@example.jp>'],
        cc=["講師 佐藤 <sato@example.jp>", "TARO@example.jp"],  # already a To: SendGrid refuses duplicates
        bcc=["記録 <archive@example.jp>"],
        from_email="できる事務局 <office@example.jp>",
    )

    assert send(msg) == 1

    [personalization] = fake_sendgrid.last_message["body"]["personalizations"]
    assert personalization == {
        "to": [{"name": "山田 太郎", "email": "taro@example.jp"}, {"email": "hanako@example.jp"},
               {"name": "Suzuki, Ichiro", "email": "ichiro@example.jp"}],
        "cc": [{"name": "講師 佐藤", "email": "sato@example.jp"}],
        "bcc": [{"name": "記録", "email": "archive@example.jp"}],
    }
    assert fake_sendgrid.last_message["body"]["from"] == {"name": "できる事務局", "email": "office@example.jp"}
    assert len(fake_sendgrid.sent_to("archive@example.jp")) == 1


def test_headers_mime_attachments_and_several_reply_to(fake_sendgrid):
    part = MIMEText(ICS, "calendar", "utf-8")
    part.set_param("method", "REQUEST")
    part.add_header("Content-Disposition", "attachment", filename="予約.ics")
    msg = message(reply_to=["a@example.jp", "b@example.jp"],
                  headers={"X-Dekiru-Message": "講座", "To": "ignored", "Subject": "ignored"})
    msg.attach(part)

    send(msg)

    body = fake_sendgrid.last_message["body"]
    assert body["headers"] == {"X-Dekiru-Message": "=?utf-8?b?6Kyb5bqn?="}  # RFC 2047; reserved headers dropped
    assert body["reply_to_list"] == [{"email": "a@example.jp"}, {"email": "b@example.jp"}]
    [ics] = fake_sendgrid.attachments(body)
    assert ics.filename == "予約.ics"
    assert ics.type == "text/calendar; charset=utf-8; method=REQUEST"
    assert ics.content == ICS.encode()


def test_message_without_recipients_is_skipped(fake_sendgrid):
    assert send(message(to=[])) == 0
    assert fake_sendgrid.request_count == 0


def test_message_without_to_is_refused_before_any_request(fake_sendgrid):
    with pytest.raises(PermanentMailError, match="at least one To recipient"):
        send(message(to=[], bcc=["archive@example.jp"]))
    assert fake_sendgrid.request_count == 0


def test_rate_limited_is_transient_with_retry_after(fake_sendgrid):
    fake_sendgrid.fail_next(429, retry_after=30)
    msg = message()

    with pytest.raises(TransientMailError) as caught:
        send(msg)

    assert caught.value.retry_after == 30
    assert caught.value.status_code == 429
    assert caught.value.reason == "429: Too many requests"
    assert not hasattr(msg, "sendgrid_message_id")
    assert send(msg) == 1  # the plan was for one request only


def test_retry_after_as_http_date():
    later = format_datetime(datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=120), usegmt=True)
    assert 110 < parse_retry_after(later) <= 120
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(fake_sendgrid, status):
    fake_sendgrid.fail_next(status)

    with pytest.raises(TransientMailError) as caught:
        send(message())

    assert caught.value.status_code == status
    assert caught.value.retry_after is None


def test_outage_answers_503_until_up(fake_sendgrid):
    fake_sendgrid.down(retry_after=5)
    for _ in range(2):
        with pytest.raises(TransientMailError) as caught:
            send(message())
        assert caught.value.retry_after == 5
    fake_sendgrid.up()

    assert send(message()) == 1
    assert fake_sendgrid.request_count == 3
    assert len(fake_sendgrid.messages) == 1


def test_stall_past_the_timeout_is_transient_within_the_timeout(fake_sendgrid, settings):
    settings.SENDGRID_TIMEOUT = 1
    fake_sendgrid.stall_next(5)

    started = time.monotonic()
    with pytest.raises(TransientMailError) as caught:
        send(message())
    elapsed = time.monotonic() - started

    assert 0.9 < elapsed < settings.SENDGRID_TIMEOUT + 1.5
    assert caught.value.reason == "no answer from SendGrid within 1 s"
    assert caught.value.maybe_sent, "the request had been sent: SendGrid may have accepted it"
    assert len(fake_sendgrid.wait_for(1)) == 1, "... and it did, after the client gave up"


def test_only_failures_after_the_request_was_sent_may_have_sent_it(fake_sendgrid):
    fake_sendgrid.close_next()
    with pytest.raises(TransientMailError) as caught:
        send(message())
    assert caught.value.maybe_sent

    fake_sendgrid.fail_next(503)
    with pytest.raises(TransientMailError) as caught:
        send(message())
    assert not caught.value.maybe_sent

    fake_sendgrid.stop()
    with pytest.raises(TransientMailError) as caught:
        send(message())
    assert "refused" in caught.value.reason and not caught.value.maybe_sent


def test_custom_args_travel_on_the_personalization(fake_sendgrid):
    msg = message()
    msg.custom_args = {"dekiru_outbox_id": "42", "dekiru_attempt": "1"}
    assert send(msg) == 1
    [personalization] = fake_sendgrid.last_message["body"]["personalizations"]
    assert personalization["custom_args"] == {"dekiru_outbox_id": "42", "dekiru_attempt": "1"}
    assert "custom_args" not in fake_sendgrid.last_message["body"], "the top-level field is a string in the spec"


def test_connection_closed_without_answer_is_transient(fake_sendgrid):
    fake_sendgrid.close_next()

    with pytest.raises(TransientMailError) as caught:
        send(message())

    assert "connection to SendGrid lost" in caught.value.reason
    assert send(message()) == 1


def test_connection_refused_is_transient(fake_sendgrid, settings):
    settings.SENDGRID_API_HOST = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(TransientMailError) as caught:
        send(message())

    assert caught.value.reason == "connection to SendGrid refused"


def test_bad_request_is_permanent_with_sendgrid_message(fake_sendgrid):
    fake_sendgrid.fail_next(400, body={"errors": [
        {"message": "The from email does not contain a valid address.", "field": "from.email", "help": None}]})

    with pytest.raises(PermanentMailError) as caught:
        send(message())

    assert caught.value.reason == "400: The from email does not contain a valid address."
    assert caught.value.status_code == 400


@pytest.mark.parametrize("status", [401, 403, 413])
def test_key_and_size_errors_are_permanent(fake_sendgrid, status):
    fake_sendgrid.fail_next(status)

    with pytest.raises(PermanentMailError) as caught:
        send(message())

    assert caught.value.reason.startswith(f"{status}: ")


def test_wrong_key_is_refused_by_the_fake_server(fake_sendgrid, settings):
    settings.SENDGRID_API_KEY = "SG.wrong-key"

    with pytest.raises(PermanentMailError) as caught:
        send(message())

    assert caught.value.reason == "401: Permission denied, wrong credentials"


def test_fail_silently_swallows_errors_and_counts_what_was_sent(fake_sendgrid):
    fake_sendgrid.fail_next(500)
    fake_sendgrid.fail_next(400)

    sent = get_connection(fail_silently=True).send_messages([message(), message(), message()])

    assert sent == 1
    assert fake_sendgrid.request_count == 3


def test_api_key_never_in_reason_or_logs(fake_sendgrid, settings, caplog):
    key = "SG.secretkey123.abcdefXYZ"
    fake_sendgrid.api_key = None  # accept any key
    settings.SENDGRID_API_KEY = key
    fake_sendgrid.fail_next(400, body={"errors": [{"message": f"bad key {key}", "field": None, "help": None}]})
    caplog.set_level(logging.DEBUG)

    with pytest.raises(PermanentMailError) as caught:
        send(message())
    send(message())

    assert key not in caught.value.reason
    assert caught.value.reason == "400: bad key [API key]"
    assert caplog.records  # the backend did log, at DEBUG level for everything
    assert key not in caplog.text
    assert "taro@example.jp" not in caplog.text  # nor personal data
    assert "スマホ教室" not in caplog.text


def test_errors_are_mail_errors():
    assert issubclass(TransientMailError, MailError) and issubclass(PermanentMailError, MailError)


# -- the fake server itself ------------------------------------------------------------------------------------------

def valid_body(**overrides) -> dict:
    return {
        "personalizations": [{"to": [{"email": "taro@example.jp", "name": "山田 太郎"}]}],
        "from": {"email": "no-reply@example.jp", "name": "Dekiru"},
        "subject": "件名",
        "content": [{"type": "text/plain", "value": "本文"}],
    } | overrides


def test_fake_server_accepts_a_valid_body(fake_sendgrid):
    status, answer = post(fake_sendgrid, valid_body())
    assert (status, answer) == (202, b"")


@pytest.mark.parametrize(("body", "expected"), [
    (valid_body(personalizations=[]), "personalizations field is required"),
    (valid_body(attachments=[{"content": "not base64!", "filename": "a.ics", "type": "text/calendar"}]),
     "must be base64 encoded"),
    (valid_body(content=[{"type": "text/html", "value": "<p>x</p>"}, {"type": "text/plain", "value": "x"}]),
     "text/plain body first"),
    (valid_body(**{"from": {"email": "not-an-address"}}), "is not a 'email'"),
    (valid_body(content=[]), "content parameter is required"),
    (valid_body(subject=""), "should be non-empty"),
])
def test_fake_server_rejects_what_sendgrid_would(fake_sendgrid, body, expected):
    status, answer = post(fake_sendgrid, body)

    assert status == 400
    assert set(answer["errors"][0]) == {"message", "field", "help"}
    assert any(expected in error["message"] for error in answer["errors"]), answer
    [(recorded, messages)] = fake_sendgrid.clear_invalid()  # on purpose: the fixture would fail the test otherwise
    assert recorded == body and messages
    assert fake_sendgrid.messages == []


def test_fake_server_checks_auth_and_path(fake_sendgrid):
    assert post(fake_sendgrid, valid_body(), key="")[0] == 401
    request = urllib.request.Request(fake_sendgrid.url + "/v3/templates", method="GET")
    with pytest.raises(HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 404
    assert fake_sendgrid.request_count == 2
    assert fake_sendgrid.invalid == []


def test_every_backend_request_validates_against_the_schema():
    msg = message(cc=["a@example.jp"], bcc=["b@example.jp"], reply_to=["c@example.jp"])
    msg.attach_alternative("<p>x</p>", "text/html")
    msg.attach("a.ics", ICS, "text/calendar")

    assert validate_mail_send(build_mail(msg).get()) == []


def test_fake_server_works_outside_pytest_fixtures():
    with FakeSendGrid() as server:
        backend = SendGridBackend(api_key="SG.bench", host=server.url, timeout=2)
        assert backend.send_messages([EmailMessage("件名", "本文", None, ["a@example.jp"])]) == 1
        assert len(server.messages) == 1
