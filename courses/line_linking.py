"""Linking a resident's LINE account to their booking, and the LINE webhook (issue 17, "LINE linking").

No account is created. The confirmation page, the confirmation e-mail and the printed slip offer 「LINEで受け取る」
(`offer_for`, shown only when the city's LINE account is set up: cms.line): add the official account as a friend,
then send the one-time code shown beside it — or tap the link that opens the chat with the code already typed.

- A code (`new_code`) is 6 digits (easy to type, nothing to confuse), unique (the column is unique, so it is unique
  among unexpired codes too), single use and valid DEKIRU_LINE_CODE_HOURS hours (default 72). It links whoever
  receives the booking's messages (courses.recipients.recipient_for): the resident, or the family member or carer
  who booked when the messages go to them (`for_booker`).
- The webhook (`webhook`, POST /line/webhook, no language prefix) checks X-Line-Signature with line-bot-sdk's
  WebhookParser against the channel secret (cms.line.channel_secret): a bad or missing signature, a body that is
  not LINE's JSON, or one too large → 400/413 and nothing is processed; never a 5xx. Each event's webhookEventId is
  stored (LineWebhookEvent) in the transaction that handles it: a redelivered or replayed event is ignored.
- A text message with a valid code (`link`) stores the LINE user id on the participant (line_user_id,
  line_linked_at: it serves their later bookings too) or on the registration (booker_line_user_id), marks the code
  used, records LINE as the booking's way to be notified (linking is choosing LINE), and moves the booking's
  messages still waiting (pending or on the call list, nothing that may have gone out already) to the LINE channel.
  The reply confirms with the booking's course, date and reference, in the resident's language. A wrong, expired or
  used code gets a reply saying what to do, and nothing about any booking; repeated wrong codes from one LINE
  account are refused for an hour (FAILURE_LIMIT), so codes cannot be guessed.
- `follow` → a greeting asking for the code. `unfollow` → the LINE user id is cleared everywhere (`unlink`): the
  channel is off. Messages already moved to LINE for that user are left as they are: the outbox's LINE worker
  (courses.outbox) finds the recipient without a LINE id, or LINE refuses the push, and falls back to the next
  channel. Other events are ignored (200).

The webhook does only short database work; the reply (one request to LINE, with cms.line's timeout) is sent after
the transaction, and its failure is logged, never raised. LINE ids are personal data: never shown to partner staff
(the fields are not editable), erased by the retention purge (courses.retention), listed in the personal-data export
(courses.data_requests).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.http import HttpResponse, HttpResponseBadRequest
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.webhook import WebhookParser
from linebot.v3.webhooks import FollowEvent, MessageEvent, TextMessageContent, UnfollowEvent

from cms import line
from cms.i18n import localized
from courses import outbox
from courses.emails import when
from courses.models import LineLinkCode, LineWebhookEvent, OutgoingMessage, Participant, Registration
from courses.recipients import recipient_for

logger = logging.getLogger(__name__)

CODE_DIGITS = 6
# A webhook body is a few kilobytes (LINE sends at most a few events at a time); anything far larger is refused.
MAX_BODY = 256 * 1024
# Wrong codes one LINE account may send per hour before it is asked to wait: 10 guesses in a million.
FAILURE_LIMIT = 10
FAILURE_WINDOW = 3600
# LINE's ids: user ids are "U" and 32 hex digits; webhook event ids are ULIDs. Anything else is not from LINE.
USER_ID = re.compile(r"U[0-9a-f]{32}")
EVENT_ID = re.compile(r"[0-9A-Za-z]{1,64}")
# The messages a link moves to LINE: waiting to be sent, or waiting on the staff call list.
MOVABLE = (OutgoingMessage.Status.PENDING, OutgoingMessage.Status.TO_CALL)


def code_hours() -> int:
    return int(getattr(settings, "DEKIRU_LINE_CODE_HOURS", 72))


def offered() -> bool:
    """Whether residents are offered LINE: the channel is on (cms.line) and the account's id is known (links)."""
    return line.available() and bool(line.basic_id())


# --- Codes ------------------------------------------------------------------------------------------------------

def new_code(registration: Registration, *, for_booker: bool, now: dt.datetime | None = None) -> LineLinkCode:
    """A new one-time code linking LINE to whoever receives `registration`'s messages (`for_booker`: the booker)."""
    now = now or timezone.now()
    for _attempt in range(20):
        code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
        if LineLinkCode.objects.filter(code=code).exists():
            continue
        try:
            with transaction.atomic():
                return LineLinkCode.objects.create(code=code, registration=registration, for_booker=for_booker,
                                                   created_at=now, expires_at=now + dt.timedelta(hours=code_hours()))
        except IntegrityError:  # drawn at the same moment by another request
            continue
    raise RuntimeError("no free LINE link code")


def current_code(registration: Registration, *, for_booker: bool, now: dt.datetime | None = None) -> LineLinkCode:
    """The code to show now: an unused one with at least half its time left (so a page, an e-mail and a slip made
    the same day show the same code), else a new one."""
    now = now or timezone.now()
    code = (LineLinkCode.objects.filter(registration=registration, for_booker=for_booker, used_at__isnull=True,
                                        expires_at__gt=now + dt.timedelta(hours=code_hours() / 2))
            .order_by("-expires_at").first())
    return code or new_code(registration, for_booker=for_booker, now=now)


def parse_code(text: str) -> str | None:
    """The code in a message, as residents type it: full-width digits, spaces or hyphens between digits, words
    around it ("LINE連携コード：123 456"). "" when the message has digits but no code; None when it has no digits."""
    text = unicodedata.normalize("NFKC", text[:500])
    compact = re.sub(r"(?<=\d)[\s\-‐‑–—―ー・.,]+(?=\d)", "", text)
    runs = re.findall(r"\d+", compact)
    if not runs:
        return None
    return next((run for run in runs if len(run) == CODE_DIGITS), "")


def display_code(code: str) -> str:
    """123 456: read and typed in two halves."""
    return f"{code[:3]} {code[3:]}"


# --- The offer (confirmation page, e-mail, slip) ----------------------------------------------------------------

@dataclass(frozen=True)
class LineOffer:
    basic_id: str
    linked: bool  # whoever receives this booking's messages has linked LINE already
    code: str = ""
    expires_at: dt.datetime | None = None
    to_booker: bool = False

    @property
    def code_display(self) -> str:
        return display_code(self.code)

    @property
    def add_friend_url(self) -> str:
        return f"https://line.me/R/ti/p/{quote(self.basic_id, safe='')}"

    @property
    def message_text(self) -> str:
        return _("LINE link code: %(code)s") % {"code": self.code}

    @property
    def chat_url(self) -> str:
        """Opens the chat with the official account, the code already typed: one tap on "send"."""
        return f"https://line.me/R/oaMessage/{quote(self.basic_id, safe='')}/?{quote(self.message_text, safe='')}"

    def qr_svg_data_uri(self) -> str:
        """The chat link as a QR (for the printed slip), an SVG data: URI as courses.checkin makes them."""
        import segno

        return segno.make(self.chat_url, error="m").svg_data_uri(scale=4, border=4, dark="#000", light="#fff")


def is_linked(registration: Registration) -> bool:
    recipient = recipient_for(registration)
    if recipient is None:
        return False
    if recipient.is_booker:
        return bool(registration.booker_line_user_id)
    return bool(registration.participant.line_user_id)


def offer_for(registration: Registration, *, now: dt.datetime | None = None) -> LineOffer | None:
    """「LINEで受け取る」 for this booking: None when LINE is not offered, the booking is not active or nobody
    receives its messages; `linked` when this booking's messages go by LINE already (LINE chosen and linked);
    otherwise with a code (a resident linked earlier who chose another way for this booking can switch with it)."""
    if not offered() or registration.status not in Registration.ACTIVE:
        return None
    recipient = recipient_for(registration)
    if recipient is None:
        return None
    if is_linked(registration) and registration.notify_by == Registration.NotifyBy.LINE:
        return LineOffer(basic_id=line.basic_id(), linked=True, to_booker=recipient.is_booker)
    code = current_code(registration, for_booker=recipient.is_booker, now=now)
    return LineOffer(basic_id=line.basic_id(), linked=False, code=code.code, expires_at=code.expires_at,
                     to_booker=recipient.is_booker)


# --- Linking ----------------------------------------------------------------------------------------------------

@dataclass
class LinkResult:
    registration: Registration
    for_booker: bool
    moved: int


def link(code: str, user_id: str, *, now: dt.datetime | None = None) -> LinkResult | None:
    """Link the LINE user `user_id` with the code's booking (module docstring). None for an unknown, expired or used
    code. Call inside a transaction (the code row is locked until it commits)."""
    now = now or timezone.now()
    found = (LineLinkCode.objects.select_for_update(of=("self",))
             .select_related("registration", "registration__participant", "registration__session",
                             "registration__session__course")
             .filter(code=code, used_at__isnull=True, expires_at__gt=now).first())
    if found is None:
        return None
    registration = found.registration
    LineLinkCode.objects.filter(pk=found.pk).update(used_at=now)
    if found.for_booker:
        registration.booker_line_user_id = user_id
        Registration.objects.filter(pk=registration.pk).update(
            booker_line_user_id=user_id, notify_by=Registration.NotifyBy.LINE, updated_at=now)
    else:
        participant = registration.participant
        participant.line_user_id, participant.line_linked_at = user_id, now
        Participant.objects.filter(pk=participant.pk).update(line_user_id=user_id, line_linked_at=now,
                                                             updated_at=now)
        Registration.objects.filter(pk=registration.pk).update(notify_by=Registration.NotifyBy.LINE, updated_at=now)
    registration.notify_by = Registration.NotifyBy.LINE
    moved = _move_waiting_messages(registration, for_booker=found.for_booker, user_id=user_id, now=now)
    return LinkResult(registration=registration, for_booker=found.for_booker, moved=moved)


def _move_waiting_messages(registration: Registration, *, for_booker: bool, user_id: str,
                           now: dt.datetime) -> int:
    """The booking's messages not sent yet go by LINE instead: pending e-mails or SMS, and messages waiting on the
    call list. Messages that may have gone out already (uncertain attempts) stay where they are."""
    waiting = OutgoingMessage.objects.filter(registration=registration, to_booker=for_booker, status__in=MOVABLE,
                                             sent_at__isnull=True, uncertain_attempts=0)
    ids = list(waiting.values_list("pk", flat=True))
    if not ids:
        return 0
    OutgoingMessage.objects.filter(pk__in=ids).update(
        channel=OutgoingMessage.Channel.LINE, status=OutgoingMessage.Status.PENDING, to_line=user_id,
        lease_expires_at=None, claimed_by="", updated_at=now)
    due = list(OutgoingMessage.objects.filter(pk__in=ids, next_attempt_at__lte=now).values_list("pk", flat=True))
    if due:
        transaction.on_commit(lambda: outbox.enqueue(due))
    return len(ids)


def unlink(user_id: str, *, now: dt.datetime | None = None) -> int:
    """The LINE user left the account (unfollow): their id is cleared everywhere, so the LINE channel is off for
    them. Returns how many records changed."""
    now = now or timezone.now()
    people = Participant.objects.filter(line_user_id=user_id).update(line_user_id="", line_linked_at=None,
                                                                     updated_at=now)
    bookings = Registration.objects.filter(booker_line_user_id=user_id).update(booker_line_user_id="",
                                                                               updated_at=now)
    return people + bookings


# --- Replies ----------------------------------------------------------------------------------------------------

def _in_both_languages(make) -> list[str]:
    """A reply to someone whose language is unknown: Japanese, then English, as two messages."""
    texts = []
    for language in ("ja", "en"):
        with translation.override(language):
            texts.append(str(make()))
    return texts


def _greeting() -> str:
    return _("Thank you for adding us. To receive messages about your booking on LINE, please send the 6-digit "
             "code shown on your booking page, in the confirmation e-mail or on your booking slip.")


def _help() -> str:
    return _("This account sends messages about your class bookings. To receive them on LINE, please send the "
             "6-digit code shown on your booking page, in the confirmation e-mail or on your booking slip.")


def _wrong_code() -> str:
    return _("We could not use this code: it may be mistyped, expired or used already. Please open your booking "
             "page to see a new code, or phone us.")


def _too_many() -> str:
    return _("Several codes were not right. Please try again in an hour, or phone us.")


def _linked_reply(result: LinkResult) -> list[str]:
    """In the resident's language: what is linked (course, date, reference), and how to stop."""
    registration = result.registration
    session = registration.session
    with translation.override(registration.participant.language or settings.LANGUAGE_CODE):
        text = _("Your LINE is now linked. We will send the messages about 「%(course)s」 on %(when)s (booking "
                 "reference %(reference)s) by LINE.") % {
            "course": localized(session.course, "title"), "when": when(session.starts_at, session.ends_at),
            "reference": registration.reference_display}
        if not result.for_booker:
            text += " " + _("Next time you book, choose LINE: no code will be needed.")
        text += "\n" + _("To stop, block this account.")
        return [str(text)]


# --- The webhook ------------------------------------------------------------------------------------------------

def _failures_key(user_id: str) -> str:
    return f"line-link-failures:{user_id}"


def _on_message(event: MessageEvent, user_id: str, now: dt.datetime) -> list[str]:
    if not isinstance(event.message, TextMessageContent):
        return []
    code = parse_code(event.message.text or "")
    if code is None:
        return _in_both_languages(_help)
    failures = cache.get(_failures_key(user_id), 0)
    if failures >= FAILURE_LIMIT:
        return _in_both_languages(_too_many)
    result = link(code, user_id, now=now) if code else None
    if result is None:
        cache.set(_failures_key(user_id), failures + 1, FAILURE_WINDOW)
        return _in_both_languages(_wrong_code)
    logger.info("line linked to registration %s (%s, %d waiting message(s) moved)", result.registration.pk,
                "booker" if result.for_booker else "resident", result.moved)
    return _linked_reply(result)


def handle_event(event, *, now: dt.datetime | None = None) -> list[str]:
    """Handle one parsed webhook event (not seen before); the texts to reply with (maybe none)."""
    now = now or timezone.now()
    user_id = getattr(getattr(event, "source", None), "user_id", None) or ""
    if not USER_ID.fullmatch(user_id):
        return []  # a group or room, or not a LINE user id: nothing to link
    if isinstance(event, MessageEvent):
        return _on_message(event, user_id, now)
    if isinstance(event, FollowEvent):
        return _in_both_languages(_greeting)
    if isinstance(event, UnfollowEvent):
        changed = unlink(user_id, now=now)
        logger.info("line unfollowed: %d link(s) cleared", changed)
    return []


def _first_time(event_id: str, now: dt.datetime) -> bool:
    """Record the event; False when it was handled before (a redelivery or a replay)."""
    try:
        with transaction.atomic():
            LineWebhookEvent.objects.create(event_id=event_id, received_at=now)
    except IntegrityError:
        return False
    return True


def _reply(replies: list[tuple[str, list[str]]]) -> None:
    if not replies:
        return
    try:
        sender = line.get_sender()
    except Exception:
        logger.warning("line webhook: no sender, %d reply(ies) not sent", len(replies))
        return
    try:
        for token, texts in replies:
            try:
                sender.reply(token, texts)
            except Exception as exc:
                logger.warning("line webhook: reply failed (%s)", type(exc).__name__)
    finally:
        sender.close()


@csrf_exempt
@require_POST
def webhook(request):
    """POST /line/webhook (module docstring): 200 once the events are handled; 400 for anything not signed by LINE
    or not LINE's JSON; 413 for a body far too large."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return HttpResponseBadRequest()
    if length > MAX_BODY:
        return HttpResponse(status=413)
    try:
        raw = request.body
    except Exception:  # RequestDataTooBig, a broken upload
        return HttpResponse(status=413)
    if len(raw) > MAX_BODY:
        return HttpResponse(status=413)
    secret, signature = line.channel_secret(), request.headers.get("X-Line-Signature", "")
    if not secret:
        logger.warning("line webhook called but DEKIRU_LINE_CHANNEL_SECRET is not set")
        return HttpResponseBadRequest()
    if not signature:
        return HttpResponseBadRequest()
    try:
        body = raw.decode("utf-8")
        events = WebhookParser(secret).parse(body, signature)
    except InvalidSignatureError:
        logger.warning("line webhook: invalid signature")
        return HttpResponseBadRequest()
    except Exception as exc:  # signed but not LINE's JSON: nothing to process
        logger.warning("line webhook: unreadable body (%s)", type(exc).__name__)
        return HttpResponseBadRequest()

    now = timezone.now()
    replies = []
    for event in events:
        event_id = getattr(event, "webhook_event_id", None)
        if not isinstance(event_id, str) or not EVENT_ID.fullmatch(event_id):
            continue
        try:
            with transaction.atomic():
                if not _first_time(event_id, now):
                    continue
                texts = handle_event(event, now=now)
        except Exception:
            logger.exception("line webhook: event %s not handled", event_id)
            continue
        token = getattr(event, "reply_token", None)
        if texts and isinstance(token, str) and token:
            replies.append((token, texts))
    _reply(replies)
    return HttpResponse(status=200)

