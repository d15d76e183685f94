"""Staff accounts opened by invitation: a city administrator invites someone by e-mail with one role (and, for a
partner role, the partner); the person opens the link, chooses a username and a password, and is signed in.

The secret in the link
----------------------
The link is `/staff/invitation/<id>:<secret>/` with `secrets.token_urlsafe(32)` as the secret. Only its SHA-256
hash is stored (`token_hash`), and the secret is made by the mail worker just before it sends the e-mail
(`send_invitation`): it is never written to the database, to the task queue (django-tasks-db keeps each task's
arguments in a table, so passing the secret to the task would store it after all) or to a log. A copy of the
database alone opens no account. The price: each sending attempt makes a new secret, so if SendGrid took an
attempt the worker could not record (a timeout after its 202), the retry's e-mail carries the link that works and
the earlier link says "not valid, use the newest e-mail".

The id makes the lookup a primary-key read; the hashes are then compared in constant time (hmac.compare_digest).
The colon gives the path segment the shape of the project's signed tokens, which the access log, the log formatter
and error reports already replace by [token] (gunicorn.conf.py, cms.settings.production). A link whose hash
matches but which can no longer be used (accepted, withdrawn, expired) is told apart (`InvitationGone`, HTTP 410)
from one that never existed or was replaced by a resend (`InvitationNotFound`, HTTP 404).

Sending
-------
`invite` and `resend` start a sending round and, once their transaction commits, enqueue
partners.tasks.send_invitation_task on the "mail" backend and queue: nothing is sent in the request. The task
claims the invitation with one conditional UPDATE (new secret hash, and a lease: `next_attempt_at` moved past
cms.sending.lease_time()), so a duplicate task sends nothing, then sends through Django's e-mail API
(cms.mail.SendGridBackend in production) and records the outcome as the outbox does, with its helpers: sent; a
transient failure (cms.mail.TransientMailError: 429, 5xx, timeout, network) → still waiting, retried by a task
deferred with cms.sending.retry_delay's backoff, up to DEKIRU_MAIL_MAX_ATTEMPTS; a permanent failure → failed,
with the reason for administrators, who can resend. The task carries its round, so a retry left over from before a
resend sends nothing. If a task is lost (its worker died, the enqueue failed), the invitation stays waiting and is
due again when the lease ends: `send_due_invitations` (partners.tasks.send_due_invitations_task) sends whatever is
due, for the periodic sweep.

Accepting
---------
`accept` runs in one transaction holding the invitation's row lock (select_for_update), so a double click or two
tabs create one account: the second finds it accepted. It creates an active user with the invitation's e-mail and
name, adds the role group, and for a partner role makes the membership through partners.services.add_membership
(which also grants the partner's page permissions). Every step is in the audit log (cms.audit.log).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections import Counter
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from cms import roles
from cms.audit import acting_user, log
from cms.roles import ROLE_LABELS
from cms.sending import absolute, lease_time, max_attempts, retry_delay, try_send
from cms.templatetags.dekiru import hour_minute, long_date
from partners import tasks
from partners.models import PARTNER_ROLE_MEMBERSHIP, Partner, StaffInvitation
from partners.services import add_membership

logger = logging.getLogger(__name__)

SendStatus = StaffInvitation.SendStatus

INVITED_LOG_ACTION = "partners.invitation.created"
RESENT_LOG_ACTION = "partners.invitation.resent"
REVOKED_LOG_ACTION = "partners.invitation.revoked"
ACCEPTED_LOG_ACTION = "partners.invitation.accepted"


class InvitationError(Exception):
    """A refusal. `message` is translated and safe to show; `field` names the form field it is about, if any."""

    def __init__(self, message: str, *, field: str | None = None):
        self.message = message
        self.field = field
        super().__init__(message)


class InvitationNotFound(InvitationError):
    """No invitation has this link: mistyped, made up, or replaced by a newer e-mail (HTTP 404)."""


class InvitationGone(InvitationError):
    """The link is right but can no longer be used: accepted, withdrawn or expired (HTTP 410)."""

    def __init__(self, message: str, *, invitation: StaffInvitation):
        self.invitation = invitation
        super().__init__(message)


def lifetime() -> timedelta:
    """How long a link works after it is sent (DEKIRU_INVITATION_DAYS, default 7)."""
    return timedelta(days=getattr(settings, "DEKIRU_INVITATION_DAYS", 7))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _language(language: str | None) -> str:
    try:
        return translation.get_supported_language_variant(language or settings.LANGUAGE_CODE)
    except LookupError:
        return settings.LANGUAGE_CODE


def _active_account_uses(email: str) -> bool:
    return get_user_model().objects.filter(email__iexact=email, is_active=True).exists()


def open_invitations(now: datetime | None = None) -> QuerySet[StaffInvitation]:
    """Invitations that can still be accepted."""
    return StaffInvitation.objects.filter(accepted_at__isnull=True, revoked_at__isnull=True,
                                          expires_at__gt=now or timezone.now())


def membership_role_for(role: str, partner: Partner | None) -> str:
    """The PartnerMembership role a staff role comes with ("" for a city role); refuses a role that is not one of
    cms.roles, a partner role without an active partner and a city role with one."""
    if role not in roles.ALL_ROLES:
        raise InvitationError(_("Choose one of the roles."), field="role")
    if role in PARTNER_ROLE_MEMBERSHIP:
        if partner is None:
            raise InvitationError(_("A partner role needs the partner the person works for."), field="partner")
        if not partner.is_active:
            raise InvitationError(_("This partner is inactive: reactivate it before inviting its staff."),
                                  field="partner")
        return PARTNER_ROLE_MEMBERSHIP[role]
    if partner is not None:
        raise InvitationError(_("City roles belong to no partner: leave the partner empty."), field="partner")
    return ""


# --- Inviting, resending, withdrawing ---------------------------------------------------------------------------


def invite(*, email: str, role: str, partner: Partner | None = None, first_name: str = "", last_name: str = "",
           language: str | None = None, actor=None, now: datetime | None = None) -> StaffInvitation:
    """Invite `email` to open a staff account with `role` (one of cms.roles.ALL_ROLES; a partner role with its
    `partner`). The e-mail goes out from the mail worker once this commits, in `language` (the inviting
    administrator's). Refuses an address an active account already uses, or one with an open invitation."""
    now = now or timezone.now()
    email = get_user_model().objects.normalize_email((email or "").strip())
    try:
        validate_email(email)
    except ValidationError:
        raise InvitationError(_("Enter a valid e-mail address."), field="email") from None
    membership_role = membership_role_for(role, partner)
    if _active_account_uses(email):
        raise InvitationError(_("An active account already uses this e-mail address."), field="email")
    with transaction.atomic():
        if open_invitations(now).filter(email__iexact=email).exists():
            raise InvitationError(_("This address has an open invitation already: resend it instead."),
                                  field="email")
        invitation = StaffInvitation.objects.create(
            email=email, first_name=first_name.strip(), last_name=last_name.strip(), role=role, partner=partner,
            membership_role=membership_role, language=_language(language), invited_by=acting_user(actor),
            created_at=now, expires_at=now + lifetime(), next_attempt_at=now)
        log(invitation, INVITED_LOG_ACTION, user=acting_user(actor),
            data={"role": role, "partner": partner.pk if partner else None})
        _enqueue_on_commit(invitation)
    return invitation


def resend(*, invitation: StaffInvitation, actor=None, now: datetime | None = None) -> StaffInvitation:
    """A new e-mail with a new link, valid for another DEKIRU_INVITATION_DAYS; the old link stops working at once.
    Also for an invitation that expired or whose e-mail failed. Refused once accepted or withdrawn."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = StaffInvitation.objects.select_for_update().get(pk=invitation.pk)
        if locked.accepted_at is not None:
            raise InvitationError(_("This invitation has been accepted already."))
        if locked.revoked_at is not None:
            raise InvitationError(_("This invitation was withdrawn. Send a new one instead."))
        if _active_account_uses(locked.email):
            raise InvitationError(_("An active account already uses this e-mail address."))
        membership_role_for(locked.role, locked.partner)  # the partner may have been deactivated meanwhile
        StaffInvitation.objects.filter(pk=locked.pk).update(
            send_round=F("send_round") + 1, token_hash="", send_status=SendStatus.WAITING, next_attempt_at=now,
            send_attempts=0, last_error="", sent_at=None, expires_at=now + lifetime())
        locked.refresh_from_db()
        log(locked, RESENT_LOG_ACTION, user=acting_user(actor))
        _enqueue_on_commit(locked)
    return locked


def revoke(*, invitation: StaffInvitation, actor=None, now: datetime | None = None) -> StaffInvitation:
    """Withdraw an invitation: its link stops working and an e-mail not sent yet is not sent. Idempotent; refused
    once accepted (deactivate the account instead)."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = StaffInvitation.objects.select_for_update().get(pk=invitation.pk)
        if locked.accepted_at is not None:
            raise InvitationError(_("This invitation has been accepted already: deactivate the account instead."))
        if locked.revoked_at is None:
            locked.revoked_at = now
            locked.next_attempt_at = None
            locked.save(update_fields=["revoked_at", "next_attempt_at"])
            log(locked, REVOKED_LOG_ACTION, user=acting_user(actor))
    return locked


# --- Sending (the mail worker) ----------------------------------------------------------------------------------


def _enqueue_on_commit(invitation: StaffInvitation) -> None:
    pk, send_round = invitation.pk, invitation.send_round
    transaction.on_commit(lambda: enqueue(pk, send_round))


def enqueue(invitation_id: int, send_round: int, *, run_after: datetime | None = None) -> None:
    """Ask the mail worker to send this round's e-mail. A failure here loses nothing: the invitation stays
    waiting and `send_due_invitations` finds it."""
    try:
        task = tasks.send_invitation_task
        if run_after is not None:
            task = task.using(run_after=run_after)
        task.enqueue(invitation_id, send_round)
    except Exception:
        logger.exception("could not enqueue the e-mail of staff invitation %s; the sweep will send it",
                         invitation_id)


def _due(now: datetime) -> QuerySet[StaffInvitation]:
    return open_invitations(now).filter(send_status=SendStatus.WAITING, next_attempt_at__lte=now)


def overdue_count(*, now: datetime | None = None, grace: timedelta = timedelta(minutes=2)) -> int:
    """How many invitation e-mails have waited longer than `grace` past their time (for the periodic sweep)."""
    return _due((now or timezone.now()) - grace).count()


def link_path(invitation: StaffInvitation, secret: str) -> str:
    """The accept page's path for this secret, in the invitation's language."""
    with translation.override(invitation.language):
        return reverse("staff_invitations:accept", args=[f"{invitation.pk}:{secret}"])


def render_email(invitation: StaffInvitation, secret: str) -> tuple[str, str]:
    """Subject and plain text of the invitation e-mail, in the invitation's language, with the absolute link."""
    inviter = invitation.invited_by
    with translation.override(invitation.language):
        context = {
            "name": invitation.full_name,
            "inviter": (inviter.get_full_name() or inviter.get_username()) if inviter else "",
            "role": str(ROLE_LABELS.get(invitation.role, invitation.role)),
            "partner": str(invitation.partner) if invitation.partner_id else "",
            "accept_url": absolute(link_path(invitation, secret)),
            "expires": f"{long_date(invitation.expires_at)} {hour_minute(invitation.expires_at)}",
            "admin_url": absolute(reverse("wagtailadmin_home")),
        }
        subject = " ".join(render_to_string("partners/emails/invitation_subject.txt", context).split())
        body = render_to_string("partners/emails/invitation.txt", context).strip() + "\n"
    return subject, body


def send_invitation(invitation_id: int, *, send_round: int | None = None, now: datetime | None = None,
                    connection=None) -> str | None:
    """Send the invitation's e-mail with a new secret, if it is due (module docstring), and record the outcome.
    Idempotent: returns None when there was nothing to do (sent, failed, another round, not due yet, taken by
    another worker, withdrawn, accepted or expired), otherwise the new send status."""
    now = now or timezone.now()
    secret = secrets.token_urlsafe(32)
    token_hash = hash_secret(secret)
    claimable = _due(now).filter(pk=invitation_id)
    if send_round is not None:
        claimable = claimable.filter(send_round=send_round)
    if not claimable.update(token_hash=token_hash, next_attempt_at=now + lease_time()):
        return None
    invitation = StaffInvitation.objects.select_related("partner", "invited_by").get(pk=invitation_id)
    # Outcomes are written only while this claim holds: not after a resend, nor after another worker took over.
    mine = StaffInvitation.objects.filter(pk=invitation.pk, send_round=invitation.send_round, token_hash=token_hash)
    def send():
        subject, body = render_email(invitation, secret)
        EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[invitation.email],
                     connection=connection).send(fail_silently=False)

    failure = try_send(send, what=f"staff invitation {invitation.pk}")
    if failure is not None and failure.permanent:
        mine.update(send_status=SendStatus.FAILED, send_attempts=F("send_attempts") + 1, last_error=failure.error,
                    next_attempt_at=None)
        return SendStatus.FAILED
    if failure is not None:
        return _retry_later(invitation, mine, now=now, error=failure.error, retry_after=failure.retry_after)
    mine.update(send_status=SendStatus.SENT, sent_at=now, send_attempts=F("send_attempts") + 1, last_error="",
                next_attempt_at=None)
    return SendStatus.SENT


def _retry_later(invitation: StaffInvitation, mine: QuerySet, *, now: datetime, error: str,
                 retry_after: float | None = None) -> str:
    attempts = invitation.send_attempts + 1
    if attempts >= max_attempts():
        with translation.override(settings.LANGUAGE_CODE):  # staff read reasons in the site's language
            reason = _("Gave up after %(n)s attempts: %(error)s") % {"n": attempts, "error": error}
        mine.update(send_status=SendStatus.FAILED, send_attempts=attempts, next_attempt_at=None, last_error=reason)
        return SendStatus.FAILED
    next_at = now + timedelta(seconds=retry_delay(attempts, retry_after=retry_after))
    if mine.update(send_status=SendStatus.WAITING, send_attempts=attempts, next_attempt_at=next_at,
                   last_error=error):
        enqueue(invitation.pk, invitation.send_round, run_after=next_at)
    return SendStatus.WAITING


def send_due_invitations(*, now: datetime | None = None, limit: int | None = None) -> Counter:
    """Send every invitation e-mail that is due: waiting for a task that was lost, or claimed by a worker that
    died (its lease ended). For the periodic sweep; any number may run at once. A Counter of outcomes."""
    outcomes: Counter = Counter()
    now = now or timezone.now()
    seen: set[int] = set()
    while limit is None or outcomes.total() < limit:
        pk = _due(now).exclude(pk__in=seen).order_by("next_attempt_at", "pk").values_list("pk", flat=True).first()
        if pk is None:
            break
        seen.add(pk)
        status = send_invitation(pk, now=now)
        if status is not None:
            outcomes[status] += 1
    return outcomes


# --- Accepting --------------------------------------------------------------------------------------------------


def find(token: str, *, for_update: bool = False) -> StaffInvitation:
    """The invitation of a link's token ("<id>:<secret>"), whatever its state; InvitationNotFound otherwise."""
    pk, _sep, secret = (token or "").partition(":")
    if not (pk.isascii() and pk.isdigit() and len(pk) <= 18 and secret):
        raise InvitationNotFound(_("This invitation link is not valid."))
    invitations = StaffInvitation.objects.all()
    if for_update:
        invitations = invitations.select_for_update()
    invitation = invitations.filter(pk=int(pk)).first()
    if invitation is None or not invitation.token_hash \
            or not hmac.compare_digest(invitation.token_hash, hash_secret(secret)):
        raise InvitationNotFound(_("This invitation link is not valid."))
    return invitation


def check_usable(invitation: StaffInvitation, *, now: datetime | None = None) -> None:
    """InvitationGone, with the reason for the person, unless the invitation can still be accepted (which also
    needs its partner, if any, to be active)."""
    if invitation.accepted_at is not None:
        raise InvitationGone(_("This invitation has already been used to open an account."), invitation=invitation)
    if invitation.revoked_at is not None:
        raise InvitationGone(_("This invitation has been withdrawn."), invitation=invitation)
    if invitation.is_expired(now):
        raise InvitationGone(_("This invitation has expired."), invitation=invitation)
    if invitation.partner_id and not invitation.partner.is_active:
        raise InvitationGone(_("The organisation this invitation is for no longer takes part."),
                             invitation=invitation)


def open_invitation(token: str, *, now: datetime | None = None) -> StaffInvitation:
    """The invitation of this token if it can still be accepted (InvitationNotFound / InvitationGone otherwise),
    with what the accept page shows loaded."""
    invitation = find(token)
    check_usable(invitation, now=now)
    return StaffInvitation.objects.select_related("partner", "invited_by").get(pk=invitation.pk)


def accept(*, token: str, username: str, password: str, now: datetime | None = None):
    """Open the account of an invitation (module docstring) and return the new, active user.

    Raises InvitationNotFound / InvitationGone for a link that does not work (nothing is created), InvitationError
    when an active account took the e-mail address meanwhile, and ValidationError with "username" / "password"
    errors for a username that is taken or invalid and a password the validators refuse.
    """
    now = now or timezone.now()
    User = get_user_model()
    username = (username or "").strip()
    with transaction.atomic():
        invitation = find(token, for_update=True)
        check_usable(invitation, now=now)
        if _active_account_uses(invitation.email):
            raise InvitationError(_("An active account already uses this e-mail address. Please ask the city's "
                                    "administrator for help."))
        user = User(username=username, email=invitation.email, first_name=invitation.first_name,
                    last_name=invitation.last_name, is_active=True)
        errors: dict[str, list] = {}
        try:
            user.full_clean(exclude=["password"], validate_constraints=False)
        except ValidationError as exc:
            errors.update({field: messages for field, messages in exc.message_dict.items() if field == "username"})
        if "username" not in errors and User.objects.filter(username__iexact=username).exists():
            errors["username"] = [_("This username is taken. Please choose another.")]
        try:
            validate_password(password, user=user)
        except ValidationError as exc:
            errors["password"] = exc.messages
        if errors:
            raise ValidationError(errors)
        user.set_password(password)
        user.save()
        user.groups.add(Group.objects.get(name=invitation.role))
        if invitation.partner_id:
            add_membership(partner=invitation.partner, user=user, role=invitation.membership_role, actor=user)
        invitation.accepted_at = now
        invitation.accepted_user = user
        invitation.next_attempt_at = None
        invitation.save(update_fields=["accepted_at", "accepted_user", "next_attempt_at"])
        log(user, "wagtail.create", user=user)
        log(invitation, ACCEPTED_LOG_ACTION, user=user, data={"user": user.pk})
    return user
