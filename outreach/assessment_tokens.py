"""Signed links to one resident's can-do self-assessment (できることチェック): /check/<token>/.

A token carries the registration's id, its random key (courses.Registration.token_key) and the kind (pre / post),
signed with SECRET_KEY under a salt of its own. So:
- a changed character breaks the signature, and a registration-page token (courses.tokens, another salt) does
  not open a check, nor a check token a registration page: all 404;
- a token for "pre" never opens "post" and vice versa (the kind is signed in);
- rotating the registration's key revokes it, as it does the registration links.

Expiry follows the session, read when the link is used (so a moved session moves the deadline):
- pre: until the session ends (a "before" answer given afterwards would not be one);
- post: until POST_LINK_DAYS (default 60, setting DEKIRU_SELF_ASSESSMENT_POST_DAYS) after the session ends.
An expired, validly signed link raises `LinkExpired`; the view answers with a "link expired" page (410).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext

from cms.sending import absolute
from courses.models import OutgoingMessage, Registration
from outreach.models import SelfAssessment

SALT = "dekiru.outreach.self_assessment"
KINDS = (SelfAssessment.Kind.PRE, SelfAssessment.Kind.POST)


def post_link_days() -> int:
    return int(getattr(settings, "DEKIRU_SELF_ASSESSMENT_POST_DAYS", 60))


class LinkExpired(Exception):
    """A genuine link whose time is over. Carries the registration and kind, for the page that says so."""

    def __init__(self, registration, kind: str):
        self.registration, self.kind = registration, kind
        super().__init__(f"Self-assessment link expired ({kind})")


@dataclass(frozen=True)
class CheckLink:
    registration: object
    kind: str


def _signer() -> signing.Signer:
    return signing.Signer(salt=SALT)


def assessment_token(registration, kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"Unknown self-assessment kind: {kind!r}")
    return _signer().sign_object([registration.pk, registration.token_key, str(kind)])


def assessment_path(registration, kind: str) -> str:
    """/check/<token>/ (or /en/check/<token>/), in the active language."""
    return reverse("outreach:check", args=[assessment_token(registration, kind)])


def link_expires_at(registration, kind: str) -> datetime:
    session = registration.session
    if kind == SelfAssessment.Kind.PRE:
        return session.ends_at
    return session.ends_at + timedelta(days=post_link_days())


def is_expired(registration, kind: str, *, now: datetime | None = None) -> bool:
    return (now or timezone.now()) > link_expires_at(registration, kind)


def check_from_token(token: str, queryset, *, now: datetime | None = None) -> CheckLink:
    """The registration and kind a token names. Http404 for anything not signed by us for this purpose (tampered,
    another salt, another registration's key, an unknown kind); LinkExpired for a genuine link past its time."""
    try:
        pk, key, kind = _signer().unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise Http404("Invalid self-assessment link") from exc
    if not isinstance(pk, int) or not isinstance(key, str) or kind not in KINDS:
        raise Http404("Invalid self-assessment link")
    registration = queryset.filter(pk=pk).first()
    if registration is None or not constant_time_compare(key, registration.token_key):
        raise Http404("Invalid self-assessment link")
    if is_expired(registration, kind, now=now):
        raise LinkExpired(registration, kind)
    return CheckLink(registration=registration, kind=kind)


# --- The link in the "thank you for coming" e-mail -----------------------------------------------------------


def add_check_links(message, context) -> None:
    """`construct_message_context` hook (outreach/wagtail_hooks.py): the booking confirmation (or the seat from the
    waiting list) invites the resident to say what they can do before the class, and the after-session thanks
    carries the "after" check link when the registration was marked attended — the pair that shows what the class
    changed. Not to no-shows, and not on the phone call list, which reads no links out."""
    registration = message.registration
    if registration is None or context.get("by_phone") or registration.session.is_cancelled:
        return
    Kind = OutgoingMessage.Kind
    if message.kind == Kind.AFTER_SESSION and registration.status == Registration.Status.ATTENDED:
        kind = SelfAssessment.Kind.POST
        if is_expired(registration, kind):
            return
        answered = SelfAssessment.objects.filter(registration=registration, kind=kind).exists()
        label = (gettext("See or change your can-do check answers") if answered
                 else gettext("Answer the can-do check: what can you do now?"))
        context["followup_links"].append({"label": label, "url": absolute(assessment_path(registration, kind)),
                                          "kind": "self_assessment"})
    elif message.kind in (Kind.CONFIRMED, Kind.PROMOTED) and registration.status == Registration.Status.CONFIRMED:
        kind = SelfAssessment.Kind.PRE
        if is_expired(registration, kind):
            return
        context["followup_links"].append({
            "label": gettext("Before the class: tell us what you can already do (can-do check)"),
            "url": absolute(assessment_path(registration, kind)), "kind": "self_assessment"})
