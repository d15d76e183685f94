"""cms.line, the only code that talks to LINE: the official line-bot-sdk v3 client against the fake LINE server (every
request checked against LINE's OpenAPI spec), and how LINE's answers are classified for the one send policy."""

import io
import logging
import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured

from cms import line
from cms.sending import try_send
from tests.fake_line import ACCESS_TOKEN, BASIC_ID, CHANNEL_SECRET, MONTHLY_LIMIT, user_id, validate

USER = user_id(1)


@pytest.fixture
def sender(fake_line):
    sender = line.get_sender()
    yield sender
    sender.close()


def key() -> str:
    return str(uuid.uuid4())


def test_settings_and_backend(settings):
    settings.DEKIRU_LINE_BACKEND = None
    settings.DEKIRU_LINE_CHANNEL_ACCESS_TOKEN = ""
    settings.EMAIL_BACKEND = "cms.mail.SendGridBackend"
    assert (line.backend(), line.available()) == ("off", False)
    with pytest.raises(line.PermanentLineError):
        line.get_sender()
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    assert (line.backend(), line.available()) == ("console", True)
    assert isinstance(line.get_sender(), line.ConsoleSender)
    settings.DEKIRU_LINE_CHANNEL_ACCESS_TOKEN = "token"
    assert line.backend() == "api"
    settings.DEKIRU_LINE_BACKEND = "off"
    assert not line.available()
    settings.DEKIRU_LINE_TIMEOUT = 0
    with pytest.raises(ImproperlyConfigured):
        line.LineSender(token="token")


def test_the_webhook_helpers_read_their_settings(fake_line):
    assert (line.channel_secret(), line.basic_id()) == (CHANNEL_SECRET, BASIC_ID)


def test_a_push_goes_out_valid_with_the_token_and_the_retry_key(fake_line, sender):
    retry_key = key()
    request_id = sender.push(USER, ["こんにちは", "二通目"], retry_key=retry_key)
    [push] = fake_line.pushes
    assert push["request_id"] == request_id
    assert push["body"] == {"to": USER, "messages": [{"type": "text", "text": "こんにちは"},
                                                      {"type": "text", "text": "二通目"}],
                            "notificationDisabled": False}
    assert push["headers"]["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert push["headers"]["x-line-retry-key"] == retry_key
    assert fake_line.invalid == []


def test_a_repeated_retry_key_is_answered_409_and_counts_as_sent_once(fake_line, sender):
    retry_key = key()
    first = sender.push(USER, ["a"], retry_key=retry_key)
    assert sender.push(USER, ["a"], retry_key=retry_key) == first
    assert len(fake_line.pushes) == 1 and len(fake_line.requests) == 2


def test_a_reply(fake_line, sender):
    sender.reply("reply-token-1", ["連携しました"])
    assert fake_line.replies[0]["body"]["replyToken"] == "reply-token-1"


@pytest.mark.parametrize(("status", "message", "retry_after", "permanent", "quota"), [
    (429, "Too many requests", "30", False, False),
    (429, MONTHLY_LIMIT, None, True, True),
    (500, "Internal error", None, False, False),
    (503, "Service unavailable", None, False, False),
    (401, "Authentication failed", None, True, False),
    (403, "Not allowed", None, True, False),
])
def test_failures_are_classified(fake_line, sender, status, message, retry_after, permanent, quota):
    fake_line.fail_next(status, message=message, retry_after=retry_after)
    with pytest.raises(line.PermanentLineError if permanent else line.TransientLineError) as error:
        sender.push(USER, ["a"], retry_key=key())
    assert error.value.status_code == status and message in error.value.reason
    if permanent:
        assert error.value.quota is quota
    else:
        assert error.value.retry_after == (float(retry_after) if retry_after else None)
        assert not error.value.maybe_sent


def test_an_unknown_or_invalid_user_is_refused_for_good(fake_line, sender):
    fake_line.unknown_users.add(user_id(2))
    for to in (user_id(2), "U-not-an-id"):
        with pytest.raises(line.PermanentLineError) as error:
            sender.push(to, ["a"], retry_key=key())
        assert error.value.status_code == 400 and error.value.bad_recipient
        assert to not in error.value.reason or len(to) <= 12


def test_a_reply_after_the_timeout_may_have_been_sent(fake_line, sender):
    fake_line.stall_next(2)  # the fixture's timeout is 1 s
    failure = try_send(lambda: sender.push(USER, ["a"], retry_key=key()), what="push")
    assert failure is not None and not failure.permanent and failure.maybe_sent
    assert "no answer from LINE within 1 s" in failure.error


def test_a_dropped_connection_may_have_been_sent_and_a_refused_one_was_not(fake_line, sender, settings):
    fake_line.close_next()
    with pytest.raises(line.TransientLineError) as error:
        sender.push(USER, ["a"], retry_key=key())
    assert error.value.maybe_sent
    url = fake_line.url
    fake_line.stop()
    down = line.LineSender(base_url=url, timeout=1)
    with pytest.raises(line.TransientLineError) as error:
        down.push(USER, ["a"], retry_key=key())
    assert not error.value.maybe_sent and "could not connect" in error.value.reason
    down.close()


def test_logs_and_reasons_never_carry_the_token_or_the_whole_user_id(fake_line, sender, caplog):
    caplog.set_level(logging.DEBUG, logger="cms.line")
    fake_line.fail_next(400, message=f"bad {USER} {ACCESS_TOKEN}")
    with pytest.raises(line.PermanentLineError) as error:
        sender.push(USER, ["a"], retry_key=key())
    sender.push(USER, ["a"], retry_key=key())
    assert ACCESS_TOKEN not in error.value.reason and USER not in error.value.reason
    assert ACCESS_TOKEN not in caplog.text and USER not in caplog.text


def test_one_push_carries_one_to_five_messages(sender):
    with pytest.raises(ValueError):
        sender.push(USER, [], retry_key=key())
    with pytest.raises(ValueError):
        sender.push(USER, ["a"] * 6, retry_key=key())


def test_the_console_prints_instead():
    stream = io.StringIO()
    console = line.ConsoleSender(stream)
    request_id = console.push(USER, ["テスト"], retry_key=key())
    assert request_id.startswith("console-") and "テスト" in stream.getvalue() and USER not in stream.getvalue()


def test_the_fake_server_rejects_what_lines_spec_rejects():
    headers = {"content-type": "application/json", "authorization": "Bearer x",
               "x-line-retry-key": "123e4567-e89b-12d3-a456-426614174000"}
    body = b'{"to": "U1", "messages": [{"type": "text", "text": "hi"}]}'
    assert validate("POST", "/v2/bot/message/push", headers, body) == []
    assert validate("POST", "/v2/bot/message/push", headers, b'{"messages": [{"type": "text", "text": "hi"}]}')
    assert validate("POST", "/v2/bot/message/push", headers, b'{"to": "U1", "messages": []}'), "1 to 5 messages"
    assert validate("POST", "/v2/bot/message/push", headers | {"x-line-retry-key": "not-a-uuid"}, body)
    assert validate("POST", "/v2/bot/message/push", {"content-type": "application/json"}, body), "no token"
    assert validate("POST", "/v2/bot/message/push", headers,
                    b'{"to": "U1", "messages": [{"type": "text", "text": "' + b"a" * 5001 + b'"}]}')
