import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from wagtail.admin.panels import FieldPanel, FieldRowPanel, MultiFieldPanel
from wagtail.search import index

from cms import roles
from cms.i18n import localized
from cms.roles import CITY_ROLES, ROLE_LABELS


class Ward(models.Model):
    """An administrative ward (区) of the municipality; reference data loaded by `load_municipality`."""

    code = models.CharField(_("local government code"), max_length=6, unique=True)
    name = models.CharField(_("name"), max_length=50)
    name_en = models.CharField(_("name (English)"), max_length=100, blank=True)
    sort_order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        ordering = ["sort_order", "code"]
        verbose_name = _("ward")
        verbose_name_plural = _("wards")

    def __str__(self):
        return localized(self, "name")


class Partner(index.Indexed, models.Model):
    class Kind(models.TextChoices):
        NPO = "npo", _("NPO")
        ICT_COMPANY = "ict_company", _("ICT company")
        CARRIER_SHOP = "carrier_shop", _("Mobile carrier shop")
        COMMUNITY_ASSOCIATION = "community_association", _("Community association")
        WARD_OFFICE = "ward_office", _("Ward office")

    name = models.CharField(_("name"), max_length=200, unique=True)
    name_en = models.CharField(_("name (English)"), max_length=200, blank=True)
    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices)
    contact_name = models.CharField(_("contact person"), max_length=100, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    website = models.URLField(_("website"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    panels = [
        FieldPanel("name"), FieldPanel("name_en"), FieldPanel("kind"),
        MultiFieldPanel([FieldPanel("contact_name"), FieldRowPanel([FieldPanel("email"), FieldPanel("phone")]),
                         FieldPanel("website")], heading=_("Contact")),
        FieldPanel("is_active"),
    ]
    search_fields = [index.SearchField("name"), index.SearchField("name_en"), index.AutocompleteField("name")]

    class Meta:
        ordering = ["name"]
        verbose_name = _("partner")
        verbose_name_plural = _("partners")

    def __str__(self):
        return localized(self, "name")


class PartnerMembership(models.Model):
    """A staff user's role in a partner organisation; later issues scope the admin by it."""

    class Role(models.TextChoices):
        MANAGER = "manager", _("Manager")
        INSTRUCTOR = "instructor", _("Instructor")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="partner_memberships",
                             verbose_name=_("user"))
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="memberships",
                                verbose_name=_("partner"))
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.INSTRUCTOR)

    class Meta:
        verbose_name = _("partner membership")
        verbose_name_plural = _("partner memberships")
        constraints = [models.UniqueConstraint(fields=["user", "partner"], name="one_membership_per_partner")]

    def __str__(self):
        return f"{self.user} – {self.partner} ({self.get_role_display()})"


def new_feed_key() -> str:
    return secrets.token_urlsafe(32)


class StaffCalendarFeed(models.Model):
    """A staff member's private calendar feed of their partner's sessions, with seat counts.

    Its address carries a signed token made of this row's id and its random `key` (partners.feeds). Revoking
    clears the key, so the old address answers 404; regenerating sets a new key, so only the new address works.
    The feed goes with the membership: removing someone from a partner deletes it.
    """

    membership = models.OneToOneField(PartnerMembership, on_delete=models.CASCADE, related_name="calendar_feed",
                                      verbose_name=_("partner membership"))
    key = models.CharField(_("key"), max_length=64, blank=True, default=new_feed_key)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    regenerated_at = models.DateTimeField(_("address last changed"), default=timezone.now)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("staff calendar feed")
        verbose_name_plural = _("staff calendar feeds")
        constraints = [
            # Revoked exactly when the key is gone.
            models.CheckConstraint(condition=models.Q(key="", revoked_at__isnull=False)
                                   | (~models.Q(key="") & models.Q(revoked_at__isnull=True)),
                                   name="staff_feed_revoked_without_key"),
        ]

    def __str__(self):
        return str(self.membership)

    @property
    def is_active(self) -> bool:
        return bool(self.key)


def role_choices() -> list[tuple[str, str]]:
    """The staff roles (cms.roles) with their labels in the admin's language."""
    return [(name, ROLE_LABELS[name]) for name in roles.ALL_ROLES]


# The membership a partner role comes with: the role group gives the permissions, the membership the partner.
PARTNER_ROLE_MEMBERSHIP = {
    roles.PARTNER_MANAGER: PartnerMembership.Role.MANAGER,
    roles.PARTNER_INSTRUCTOR: PartnerMembership.Role.INSTRUCTOR,
}


class StaffInvitation(models.Model):
    """An invitation to open a staff account with one role, sent by e-mail (partners.invitations).

    Only the SHA-256 hash of the link's secret is stored; the secret itself is made by the mail worker when it
    sends the e-mail and exists nowhere else. A city role has no partner; a partner role names its partner and
    the membership it comes with (PARTNER_ROLE_MEMBERSHIP), which the database checks too.
    """

    class SendStatus(models.TextChoices):
        WAITING = "waiting", _("Waiting to be sent")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    email = models.EmailField(_("e-mail"))
    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    role = models.CharField(_("role"), max_length=50, choices=role_choices)
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, null=True, blank=True,
                                related_name="staff_invitations", verbose_name=_("partner"))
    membership_role = models.CharField(_("role in the partner"), max_length=20, blank=True,
                                       choices=PartnerMembership.Role.choices)
    # The inviting administrator's language when they sent it: the e-mail and its link are in that language.
    language = models.CharField(_("language"), max_length=10, default=settings.LANGUAGE_CODE)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name=_("invited by"))
    created_at = models.DateTimeField(_("invited"), default=timezone.now, editable=False)
    expires_at = models.DateTimeField(_("expires"))
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)
    accepted_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                      related_name="+", verbose_name=_("account created"))
    revoked_at = models.DateTimeField(_("withdrawn"), null=True, blank=True)
    # SHA-256 (hex) of the secret in the link; empty until the first e-mail is being sent.
    token_hash = models.CharField(max_length=64, blank=True, editable=False)
    # Sending. Each invite or resend is a new round; a send task carries its round, so a retry left over from an
    # earlier round sends nothing. `next_attempt_at`: when a worker may take it (next); None once sent or failed.
    send_round = models.PositiveIntegerField(default=1, editable=False)
    send_status = models.CharField(_("e-mail status"), max_length=10, choices=SendStatus.choices,
                                   default=SendStatus.WAITING)
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    send_attempts = models.PositiveIntegerField(_("sending attempts"), default=0)
    last_error = models.TextField(_("last sending error"), blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("staff invitation")
        verbose_name_plural = _("staff invitations")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=CITY_ROLES, partner__isnull=True, membership_role="")
                | models.Q(role=roles.PARTNER_MANAGER, partner__isnull=False,
                           membership_role=PARTNER_ROLE_MEMBERSHIP[roles.PARTNER_MANAGER])
                | models.Q(role=roles.PARTNER_INSTRUCTOR, partner__isnull=False,
                           membership_role=PARTNER_ROLE_MEMBERSHIP[roles.PARTNER_INSTRUCTOR]),
                name="staff_invitation_role_partner"),
            models.CheckConstraint(condition=models.Q(accepted_at__isnull=True) | models.Q(revoked_at__isnull=True),
                                   name="staff_invitation_accepted_or_revoked"),
        ]

    def __str__(self):
        return f"{self.full_name} <{self.email}>" if self.full_name else self.email

    @property
    def full_name(self) -> str:
        """As the account will have it (AbstractUser.get_full_name)."""
        return f"{self.first_name} {self.last_name}".strip()

    def is_expired(self, now=None) -> bool:
        return self.expires_at <= (now or timezone.now())

    def is_usable(self, now=None) -> bool:
        """Still open: neither accepted, withdrawn nor expired."""
        return self.accepted_at is None and self.revoked_at is None and not self.is_expired(now)


class Venue(index.Indexed, models.Model):
    """Where sessions happen. Owned by a partner, or by the city when `partner` is empty."""

    name = models.CharField(_("name"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200, blank=True)
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, null=True, blank=True, related_name="venues",
                                verbose_name=_("partner"), help_text=_("Empty for a city-owned venue."))
    ward = models.ForeignKey(Ward, on_delete=models.PROTECT, related_name="venues", verbose_name=_("ward"))
    postal_code = models.CharField(_("postal code"), max_length=8, blank=True)
    address = models.CharField(_("address"), max_length=255)
    address_en = models.CharField(_("address (English)"), max_length=255, blank=True)
    access = models.CharField(_("how to get there (Japanese)"), max_length=255, blank=True)
    access_en = models.CharField(_("how to get there (English)"), max_length=255, blank=True)
    latitude = models.DecimalField(_("latitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(_("longitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    step_free = models.BooleanField(_("step-free access"), default=False)
    hearing_loop = models.BooleanField(_("hearing loop"), default=False)
    loaner_devices = models.BooleanField(_("loaner devices available"), default=False)
    capacity = models.PositiveIntegerField(_("room capacity"), default=20)

    panels = [
        FieldPanel("name"), FieldPanel("name_en"), FieldPanel("partner"), FieldPanel("ward"),
        MultiFieldPanel([FieldPanel("postal_code"), FieldPanel("address"), FieldPanel("address_en"),
                         FieldPanel("access"), FieldPanel("access_en"),
                         FieldRowPanel([FieldPanel("latitude"), FieldPanel("longitude")])], heading=_("Address")),
        MultiFieldPanel([FieldPanel("step_free"), FieldPanel("hearing_loop"), FieldPanel("loaner_devices"),
                         FieldPanel("capacity")], heading=_("Facilities")),
    ]
    search_fields = [index.SearchField("name"), index.SearchField("address"), index.AutocompleteField("name")]

    class Meta:
        ordering = ["ward__sort_order", "name"]
        verbose_name = _("venue")
        verbose_name_plural = _("venues")
        constraints = [
            models.CheckConstraint(condition=models.Q(latitude__isnull=True) | models.Q(latitude__gte=-90,
                                                                                      latitude__lte=90),
                                   name="venue_latitude_range"),
            models.CheckConstraint(condition=models.Q(longitude__isnull=True) | models.Q(longitude__gte=-180,
                                                                                       longitude__lte=180),
                                   name="venue_longitude_range"),
        ]

    def __str__(self):
        return localized(self, "name")

    @property
    def map_url(self) -> str:
        from urllib.parse import quote

        if self.latitude is not None and self.longitude is not None:
            return f"https://www.google.com/maps/search/?api=1&query={self.latitude},{self.longitude}"
        return f"https://www.google.com/maps/search/?api=1&query={quote(self.address)}"
