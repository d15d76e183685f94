"""Staff accounts when people leave, and the periodic review of who can see what.

- `deactivate_staff`: a staff member leaves. Their account is switched off (Django refuses an inactive user on
  the next request, so open sessions end too) and every partner membership ends through
  partners.services.remove_membership, which takes away the partner's page permissions and deletes the private
  calendar feed. One transaction, one audit entry. Their role groups are kept, so the access review of the past
  and a re-activation show what they had; an inactive account can do nothing with them.
- `access_review`: every active staff account with its roles (groups), the partners whose data it can see
  ("all partners" for the city roles and superusers, partners.permissions), when it last signed in, and whether
  two-factor authentication is set up and whether their role requires it (cms.two_factor).
  Three queries whatever the number of accounts. `access_review_csv` is the download.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext as _

from cms.audit import log
from cms.csv_safety import escape_csv_cell
from cms.roles import ROLE_LABELS
from cms.two_factor import annotate_two_factor
from partners.models import PartnerMembership
from partners.permissions import CITY_ROLES
from partners.services import remove_membership

DEACTIVATE_LOG_ACTION = "partners.staff.deactivated"
# The page-permission group of one partner's staff (cms.roles.partner_editors_group_name): a consequence of a
# membership, shown in the partners column rather than as a role.
PARTNER_EDITORS_GROUP = re.compile(r"^Partner \d+: course editors$")


class StaffError(Exception):
    """A deactivation refused; `message` is translated and safe to show."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


@dataclass
class DeactivationResult:
    user: object
    ended_memberships: list[int] = field(default_factory=list)  # partner ids
    was_active: bool = True


def deactivate_staff(*, user, actor=None) -> DeactivationResult:
    """Switch off a staff account and end all its partner memberships, in one transaction (module docstring).

    Idempotent: an account already inactive keeps no membership either. Refuses to switch off the actor's own
    account, and a superuser unless the actor is one.
    """
    if actor is not None and getattr(actor, "pk", None) == user.pk:
        raise StaffError(_("You cannot deactivate your own account."))
    if user.is_superuser and not getattr(actor, "is_superuser", False):
        raise StaffError(_("Only a superuser can deactivate a superuser."))
    with transaction.atomic():
        locked = get_user_model().objects.select_for_update().get(pk=user.pk)
        was_active = locked.is_active
        if was_active:
            locked.is_active = False
            locked.save(update_fields=["is_active"])
        memberships = list(PartnerMembership.objects.filter(user=locked).select_related("partner").order_by("pk"))
        for membership in memberships:
            remove_membership(membership=membership, actor=actor)
        ended = [membership.partner_id for membership in memberships]
        if was_active or ended:
            log(locked, DEACTIVATE_LOG_ACTION, user=actor if getattr(actor, "is_authenticated", False) else None,
                data={"memberships_ended": ended})
    return DeactivationResult(user=locked, ended_memberships=ended, was_active=was_active)


# --- Access review ----------------------------------------------------------------------------------------------

@dataclass
class AccessRow:
    user: object
    roles: list[str]  # labels of the user's groups
    all_partners: bool
    partners: list[str]  # "name (role)" for each membership, when not all_partners
    last_login: dt.datetime | None
    two_factor: bool  # an authenticator app (or backup codes) set up
    two_factor_required: bool = False  # by the person's role (cms.two_factor)


def role_labels(group_names: list[str]) -> list[str]:
    """The labels of these groups as roles, without the partners' page-permission groups."""
    return [str(ROLE_LABELS.get(name, name)) for name in group_names if not PARTNER_EDITORS_GROUP.match(name)]


def access_review() -> list[AccessRow]:
    """Every active staff account, by username (module docstring). Three queries: users, groups, memberships."""
    users = (get_user_model().objects.filter(is_active=True).order_by("username")
             .prefetch_related(Prefetch("groups", queryset=Group.objects.order_by("name")),
                               Prefetch("partner_memberships",
                                        queryset=PartnerMembership.objects.select_related("partner")
                                        .order_by("partner__name"))))
    users = annotate_two_factor(users)
    rows = []
    for user in users:
        group_names = [group.name for group in user.groups.all()]
        roles = role_labels(group_names)
        if user.is_superuser:
            roles.insert(0, _("Superuser"))
        all_partners = user.is_superuser or any(name in CITY_ROLES for name in group_names)
        partners = []
        for membership in user.partner_memberships.all():
            label = f"{membership.partner} ({membership.get_role_display()})"
            if not membership.partner.is_active:
                label = _("%(partner)s – partner inactive, no access") % {"partner": label}
            partners.append(label)
        rows.append(AccessRow(user=user, roles=roles, all_partners=all_partners, partners=partners,
                              last_login=user.last_login, two_factor=user.has_two_factor,
                              two_factor_required=user.two_factor_required))
    return rows


def partners_label(row: AccessRow) -> str:
    if row.all_partners:
        return _("All partners")
    return "; ".join(row.partners) if row.partners else _("None")


def two_factor_label(row: AccessRow) -> str:
    if row.two_factor:
        return _("Set up")
    return _("Not set up (required: asked at next sign-in)") if row.two_factor_required else _("Not set up")


def access_review_csv(rows: list[AccessRow]) -> bytes:
    """The review as CSV, UTF-8 with a BOM (so Excel reads Japanese names correctly)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([_("Username"), _("Name"), _("E-mail"), _("Roles"), _("Partners whose data they can see"),
                     _("Last sign-in"), _("Two-factor authentication"), _("Account created")])
    for row in rows:
        user = row.user
        writer.writerow([escape_csv_cell(value) for value in [
            user.get_username(), user.get_full_name(), user.email, "; ".join(row.roles), partners_label(row),
            timezone.localtime(row.last_login).strftime("%Y-%m-%d %H:%M") if row.last_login else _("Never"),
            two_factor_label(row), timezone.localtime(user.date_joined).strftime("%Y-%m-%d"),
        ]])
    return codecs.BOM_UTF8 + buffer.getvalue().encode("utf-8")
