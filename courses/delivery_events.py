"""Delivery reports from the providers: what happened to a message after the provider accepted it.

Two sources, each signed, each matched to the outbox row it is about, never by an id alone:

- SendGrid's Event Webhook (POST /hooks/sendgrid/events, courses.delivery_views): a JSON array of events, signed
  with ECDSA (the sendgrid package's own EventWebhook helper checks `X-Twilio-Email-Event-Webhook-Signature` over
  the timestamp and the body, against SENDGRID_EVENT_WEBHOOK_PUBLIC_KEY). Each event carries the `custom_args`
  the backend sent (courses.emails.custom_args): the outbox row, its key and the attempt. An event is applied only
  when the row's key matches its id.
- Twilio's status callback (POST /hooks/twilio/status; cms.sms asks for it on every SMS when DEKIRU_BASE_URL is
  set): form fields signed with the account's auth token (`X-Twilio-Signature`, twilio's RequestValidator), matched
  by MessageSid to the row's `provider_message_id`. And the incoming-SMS webhook (POST /hooks/twilio/incoming): a
  resident's reply STOP / 停止 / ストップ (START to undo) turns SMS off for the bookings with that number.

What an event does (`OutgoingMessage.delivery_status`, `delivery_status_at`, `delivery_detail` for staff):

===============================  ===================  =================  ==================================
Event                            delivery_status      contact marked bad  this message
===============================  ===================  =================  ==================================
delivered (e-mail or SMS)        delivered            no                  -
bounce, type "bounce" (hard)     bounced              yes                 continues on the next channel
bounce, type "blocked" (soft)    bounced              no                  continues on the next channel
dropped: Bounced Address,        dropped              yes                 continues on the next channel
  Invalid, Spam Reporting Address
dropped, other reasons           dropped              no                  continues on the next channel
spamreport                       spam_report          yes                 continues on the next channel
SMS undelivered / failed with a  undelivered          yes (phone)         continues on the next channel
  number error (PERMANENT_SMS_CODES)
SMS 21610 (the resident sent     undelivered          no: SMS consent     continues on the next channel
  STOP)                                               cleared instead
SMS undelivered, other codes     undelivered          no                  continues on the next channel
===============================  ===================  =================  ==================================

A marked contact is an `UndeliverableContact` row (kind e-mail or phone, the address as the outbox row holds it):
courses.outbox.channel_for skips it for later messages. "Continues on the next channel" is what the outbox does
when a send fails for good (`outbox._fall_back`): a new row `fallback_of` this one, key "<key>:via=<channel>",
channel `outbox.next_channel`, written in the same transaction as the report. A message that no longer makes sense
(`outbox.obsolete_reason`: the session has started, the booking was cancelled) does not continue.

Idempotent: providers send an event again when our answer is slow or lost, and a replayed request within the
timestamp window is accepted again. The same event twice changes nothing more: the fallback's key is unique
(queue_messages skips it), the contact is written once (unique kind + address), and a line already in the
delivery report is not added again. A "delivered" never overwrites a failure already reported (SendGrid's events
may arrive out of order; the failure is what was acted on).
"""

import logging
import math
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from sendgrid.helpers.eventwebhook import EventWebhook
from twilio.request_validator import RequestValidator

from courses import outbox
from courses.models import OutgoingMessage, Registration, UndeliverableContact

logger = logging.getLogger(__name__)

Delivery, Channel, Status = OutgoingMessage.DeliveryStatus, OutgoingMessage.Channel, OutgoingMessage.Status
FAILURES = (Delivery.BOUNCED, Delivery.DROPPED, Delivery.SPAM_REPORT, Delivery.UNDELIVERED)
DETAIL_MAX = 4000  # characters of delivery report kept on a message
_TEXT_MAX = 300  # characters of one provider-supplied value (a bounce reason) kept

# SendGrid drops a message without trying when the address is on one of its suppression lists: these reasons say
# the address itself is bad (a past hard bounce, an invalid address, a spam report).
BAD_DROP_REASONS = frozenset({"bounced address", "invalid", "spam reporting address"})

# Twilio error codes in a status callback that say the number cannot get our SMS (21211 invalid number, 21612
# cannot route, 21614 not a mobile number, 30005 unknown or inactive number, 30006 landline or unreachable
# carrier). 30003 (handset off or out of reach) and 30007 (filtered by the carrier) are about this message only.
PERMANENT_SMS_CODES = frozenset({21211, 21612, 21614, 30005, 30006})
SMS_OPTED_OUT = 21610  # the resident replied STOP: SMS from us is blocked until they reply START

# Twilio's default opt-out and opt-in keywords (Advanced Opt-Out), and their Japanese forms.
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE",
                        "停止", "ストップ", "配信停止"})
START_WORDS = frozenset({"START", "YES", "UNSTOP", "開始", "スタート", "配信再開"})


class Reason:
    """Texts for staff (stored in the site's language in delivery_detail and UndeliverableContact.reason)."""

    BOUNCED = _("E-mail bounced: %(reason)s")
    BLOCKED = _("E-mail refused for now by the receiving server (soft bounce): %(reason)s")
    DROPPED = _("E-mail not sent by SendGrid: %(reason)s")
    SPAM = _("The resident reported the e-mail as spam.")
    DELIVERED = _("Delivered.")
    SMS_UNDELIVERED = _("SMS not delivered (Twilio error %(code)s).")
    SMS_STOPPED = _("The resident replied STOP: SMS is switched off for their bookings.")
    MARKED = _("The address is marked as undeliverable: later messages use another channel.")
    CONTINUES = _("The message continues by %(channel)s.")
    NOTHING_LEFT = _("No other channel is left for this message.")
    OBSOLETE = _("Not sent again by another channel: %(reason)s")


def _staff_text(text, **params) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        return str(text) % params if params else str(text)


def _clean(value, limit: int = _TEXT_MAX) -> str:
    """A provider-supplied value as text we can store: a string, no NUL (PostgreSQL refuses it), bounded."""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return ""
    return str(value).replace("\x00", "")[:limit]


@dataclass(frozen=True)
class Report:
    """What one event says about one message."""

    status: str
    detail: str  # the line added to delivery_detail
    bad_contact: bool = False  # record the address as undeliverable
    fall_back: bool = False  # continue this message on the next channel
    contact_reason: str = ""
    stop_sms: bool = False  # the resident opted out of SMS: clear the consent of their bookings


# --- SendGrid ---------------------------------------------------------------------------------------------------


def sendgrid_report(event: dict) -> Report | None:
    """What a SendGrid event means for the message (None: nothing to record, e.g. open, click, processed)."""
    kind = event.get("event")
    reason = _clean(event.get("reason") or event.get("response") or "") or "-"
    if kind == "delivered":
        return Report(Delivery.DELIVERED, _staff_text(Reason.DELIVERED))
    if kind == "bounce":
        if event.get("type") == "blocked":
            return Report(Delivery.BOUNCED, _staff_text(Reason.BLOCKED, reason=reason), fall_back=True)
        text = _staff_text(Reason.BOUNCED, reason=reason)
        return Report(Delivery.BOUNCED, text, bad_contact=True, fall_back=True, contact_reason=text)
    if kind == "dropped":
        text = _staff_text(Reason.DROPPED, reason=reason)
        bad = reason.strip().lower() in BAD_DROP_REASONS
        return Report(Delivery.DROPPED, text, bad_contact=bad, fall_back=True, contact_reason=text)
    if kind == "spamreport":
        text = _staff_text(Reason.SPAM)
        return Report(Delivery.SPAM_REPORT, text, bad_contact=True, fall_back=True, contact_reason=text)
    return None


def _outbox_id(event: dict) -> int | None:
    value = event.get("dekiru_outbox_id")
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return None


def apply_sendgrid_events(events, *, now: datetime | None = None) -> int:
    """Apply a verified batch of SendGrid events; returns how many changed a message. Events that are not about a
    message of ours (no custom args, an unknown row, a key that does not match) are ignored. Reads the batch's
    messages in one query and marks every "delivered" in one more; each failure is its own transaction."""
    now = now or timezone.now()
    wanted = []
    for event in events if isinstance(events, list) else ():
        if not isinstance(event, dict):
            continue
        pk, report = _outbox_id(event), sendgrid_report(event)
        if pk is not None and report is not None and isinstance(event.get("dekiru_key"), str):
            wanted.append((pk, event, report))
    if not wanted:
        return 0
    messages = OutgoingMessage.objects.in_bulk({pk for pk, _event, _report in wanted})
    delivered, changed = [], 0
    for pk, event, report in wanted:
        message = messages.get(pk)
        if message is None or message.key != event["dekiru_key"] or message.channel != Channel.EMAIL:
            continue
        event_id = _clean(event.get("sg_event_id"), 100)
        said = f"SendGrid {_clean(event.get('event'), 20)}: {report.detail}"
        marker = f"[{event_id}]" if event_id else said  # what identifies the event in the report, at any time
        if report.status == Delivery.DELIVERED:
            delivered.append(pk)
        else:
            changed += record(message, report, line=f"{said} [{event_id}]" if event_id else said, marker=marker,
                              address=message.to_email, now=now)
    if delivered:
        # Not over a failure already reported (events may arrive out of order), once (a second delivered is a no-op).
        changed += OutgoingMessage.objects.filter(pk__in=delivered).exclude(
            delivery_status__in=[*FAILURES, Delivery.DELIVERED]).update(
            delivery_status=Delivery.DELIVERED, delivery_status_at=now, updated_at=timezone.now())
    return changed


# --- Twilio -----------------------------------------------------------------------------------------------------


def _code(value) -> int | None:
    value = _clean(value, 10)
    return int(value) if value.isascii() and value.isdigit() else None


def twilio_report(params) -> Report | None:
    """What a Twilio status callback means for the message (None for queued, sending, sent, accepted…)."""
    state = params.get("MessageStatus") or params.get("SmsStatus")
    if state == "delivered":
        return Report(Delivery.DELIVERED, _staff_text(Reason.DELIVERED))
    if state not in ("undelivered", "failed"):
        return None
    code = _code(params.get("ErrorCode"))
    if code == SMS_OPTED_OUT:
        return Report(Delivery.UNDELIVERED, _staff_text(Reason.SMS_STOPPED), fall_back=True, stop_sms=True)
    text = _staff_text(Reason.SMS_UNDELIVERED, code=code if code is not None else "-")
    return Report(Delivery.UNDELIVERED, text, bad_contact=code in PERMANENT_SMS_CODES, fall_back=True,
                  contact_reason=text)


def apply_twilio_status(params, *, now: datetime | None = None) -> bool:
    """Apply a verified Twilio status callback to the SMS with that MessageSid; True when it changed something."""
    now = now or timezone.now()
    report = twilio_report(params)
    sid = _clean(params.get("MessageSid") or params.get("SmsSid"), 100)
    if report is None or not sid:
        return False
    message = OutgoingMessage.objects.filter(channel=Channel.SMS, provider_message_id=sid).first()
    if message is None:
        return False
    line = f"Twilio {_clean(params.get('MessageStatus') or params.get('SmsStatus'), 20)}: {report.detail}"
    if report.status == Delivery.DELIVERED:
        return bool(OutgoingMessage.objects.filter(pk=message.pk).exclude(
            delivery_status__in=[*FAILURES, Delivery.DELIVERED]).update(
            delivery_status=Delivery.DELIVERED, delivery_status_at=now, updated_at=timezone.now()))
    return bool(record(message, report, line=line, marker=line, address=message.to_phone, now=now))


# --- Recording a failure ------------------------------------------------------------------------------------------


def record(message: OutgoingMessage, report: Report, *, line: str, marker: str, address: str,
           now: datetime) -> int:
    """Record a failure on the message and act on it, in one transaction: the delivery status and the report's
    line (with the time), the contact marked bad, SMS consent withdrawn, the message continued on the next channel.
    `marker` identifies the event in the report: an event already there changes nothing more. Returns 1 when
    something changed, 0 for an event already applied."""
    with transaction.atomic():
        message = (OutgoingMessage.objects.select_for_update(of=("self",)).select_related(*_RELATED)
                   .filter(pk=message.pk).first())
        if message is None:
            return 0
        lines = [f"{timezone.localtime(now):%Y-%m-%d %H:%M} {line}"] if marker not in message.delivery_detail else []
        changed = bool(lines) or message.delivery_status != report.status
        if report.bad_contact and address:
            kind = UndeliverableContact.Kind.EMAIL if message.channel == Channel.EMAIL else (
                UndeliverableContact.Kind.PHONE)
            created = UndeliverableContact.objects.bulk_create(
                [UndeliverableContact(kind=kind, address=address, reason=report.contact_reason[:1000], noted_at=now)],
                ignore_conflicts=True)
            if lines and created:
                lines.append(_staff_text(Reason.MARKED))
        if report.stop_sms and message.registration_id:
            turned_off = stop_sms(message.to_phone, now=now)
            changed = changed or bool(turned_off)
        if report.fall_back and lines:
            lines.append(_continue(message, now=now))
        if changed:
            detail = "\n".join(filter(None, [message.delivery_detail, *lines]))[-DETAIL_MAX:]
            OutgoingMessage.objects.filter(pk=message.pk).update(
                delivery_status=report.status, delivery_status_at=now, delivery_detail=detail,
                updated_at=timezone.now())
    if changed:
        logger.info("message %s: delivery report %s", message.pk, report.status)
    return int(changed)


_RELATED = ("registration", "registration__participant", "registration__session")


def fallback_key(message: OutgoingMessage, channel: str) -> str:
    return f"{message.key}:via={channel}"[:200]


def _continue(message: OutgoingMessage, *, now: datetime) -> str:
    """Queue the message again on the next channel, as outbox._fall_back does; the line for the report."""
    if message.status not in (Status.SENT, Status.SENDING):
        return ""  # not sent (yet): the outbox is still in charge of it
    channel = outbox.next_channel(message)
    if channel is None:
        return _staff_text(Reason.NOTHING_LEFT)
    reason = outbox.obsolete_reason(message, now=now)
    if reason is not None:
        return _staff_text(Reason.OBSOLETE, reason=_staff_text(reason))
    outbox.queue_messages([OutgoingMessage(
        key=fallback_key(message, channel), kind=message.kind, channel=channel,
        status=Status.TO_CALL if channel == Channel.PHONE else Status.PENDING,
        registration_id=message.registration_id, session_id=message.session_id, language=message.language,
        to_name=message.to_name, to_email=message.to_email, to_phone=message.to_phone, to_booker=message.to_booker,
        context=message.context, send_after=now, next_attempt_at=now, fallback_of=message)])
    with translation.override(settings.LANGUAGE_CODE):
        label = str(Channel(channel).label)
    return _staff_text(Reason.CONTINUES, channel=label)


# --- SMS opt-out ------------------------------------------------------------------------------------------------


def local_number(number) -> str:
    """A number as Twilio sends it (+819012345678) as Dekiru stores it (09012345678); "" when it is not Japanese."""
    number = _clean(number, 20)
    digits = "".join(ch for ch in number if ch.isascii() and ch.isdigit())
    if number.startswith("+81") and 9 <= len(digits) - 2 <= 10:
        return "0" + digits[2:]
    return ""


def _bookings_with(number: str):
    return Registration.objects.filter(Q(participant__phone=number) | Q(booker_phone=number))


def stop_sms(number: str, *, now: datetime | None = None) -> int:
    """The resident asked for no more SMS: clear the SMS consent of every booking with that number (the
    resident's own or the booker's). Returns how many bookings changed."""
    if not number:
        return 0
    return _bookings_with(number).filter(sms_consented_at__isnull=False).update(sms_consented_at=None)


def restart_sms(number: str, *, now: datetime | None = None) -> int:
    """START: SMS again for the bookings with that number whose resident chose SMS (and whose consent STOP
    withdrew). Returns how many bookings changed."""
    if not number:
        return 0
    return _bookings_with(number).filter(notify_by=Registration.NotifyBy.SMS, sms_consented_at__isnull=True).update(
        sms_consented_at=now or timezone.now())


def keyword(body) -> str:
    """"stop", "start" or "" for the text of an incoming SMS (full-width letters and spaces allowed)."""
    text = unicodedata.normalize("NFKC", _clean(body, 40)).strip().strip("。.!！").upper()
    if text in STOP_WORDS:
        return "stop"
    if text in START_WORDS:
        return "start"
    return ""


def apply_incoming_sms(params, *, now: datetime | None = None) -> str:
    """A verified incoming SMS: STOP / START turn SMS off or on for the sender's bookings; other replies are
    ignored (nobody reads them). Twilio's OptOutType (Advanced Opt-Out) is trusted when present. Returns the
    keyword acted on, or ""."""
    opt = _clean(params.get("OptOutType"), 10).upper()
    word = {"STOP": "stop", "START": "start"}.get(opt) or keyword(params.get("Body"))
    number = local_number(params.get("From"))
    if not word or not number:
        return ""
    changed = stop_sms(number, now=now) if word == "stop" else restart_sms(number, now=now)
    logger.info("incoming SMS %s: %s booking(s) changed", word, changed)
    return word


# --- Request checks ---------------------------------------------------------------------------------------------

SIGNATURE_MAX_AGE = 600  # seconds: an older (or future) SendGrid timestamp is refused as a replay


def sendgrid_public_key() -> str:
    return (getattr(settings, "SENDGRID_EVENT_WEBHOOK_PUBLIC_KEY", "") or "").strip()


def sendgrid_signature_ok(body: bytes, signature: str, timestamp: str, *, now: float | None = None) -> bool:
    """The Event Webhook's ECDSA signature over timestamp + body, by the sendgrid package's own helper, and a
    timestamp within SIGNATURE_MAX_AGE of now."""
    if not (signature and timestamp and timestamp.isascii() and timestamp.isdigit() and len(timestamp) < 12):
        return False
    now = time.time() if now is None else now
    if not math.isfinite(now) or abs(now - int(timestamp)) > SIGNATURE_MAX_AGE:
        return False
    try:
        payload = body.decode("utf-8")
        webhook = EventWebhook()
        key = webhook.convert_public_key_to_ecdsa(sendgrid_public_key())
        return bool(webhook.verify_signature(payload, signature, timestamp, public_key=key))
    except (ValueError, TypeError, UnicodeError):  # a malformed signature (base64) or body, or a bad key
        return False


def twilio_auth_token() -> str:
    return getattr(settings, "DEKIRU_TWILIO_AUTH_TOKEN", "") or ""


def twilio_signature_ok(url: str, params, signature: str) -> bool:
    """X-Twilio-Signature over the URL Twilio called and the POST parameters (twilio's RequestValidator)."""
    if not signature or not twilio_auth_token():
        return False
    try:
        return bool(RequestValidator(twilio_auth_token()).validate(url, params, signature))
    except (ValueError, TypeError, UnicodeError):
        return False
