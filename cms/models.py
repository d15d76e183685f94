import re
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.panels import FieldPanel, MultiFieldPanel
from wagtail.contrib.settings.models import BaseGenericSetting, BaseSiteSetting, register_setting
from wagtail.fields import RichTextField, StreamField
from wagtail.models import Page

from cms.blocks import BodyBlock
from cms.i18n import localized


class User(AbstractUser):
    """Staff accounts (city staff, call-centre operators, partner staff). Residents have no account."""

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")


@dataclass(frozen=True)
class HomePageSection:
    """A part of the home page that another app provides: its template, rendered with `context` as `section`."""

    template_name: str
    context: dict = field(default_factory=dict)


def home_page_sections(request) -> list[HomePageSection]:
    """The sections the apps register with the `home_page_sections` hook (a function taking the request and
    returning a HomePageSection, or None to show nothing), in the hooks' order. The home page imports no app."""
    sections = (hook(request) for hook in hooks.get_hooks("home_page_sections"))
    return [section for section in sections if section is not None]


@dataclass(frozen=True)
class FooterLink:
    """A link in every public page's footer, registered by an app with the `footer_links` hook (a function taking
    the request and returning a FooterLink, or None)."""

    label: str
    url: str


def footer_links(request) -> list[FooterLink]:
    links = (hook(request) for hook in hooks.get_hooks("footer_links"))
    return [link for link in links if link is not None]


class HomePage(Page):
    intro = RichTextField(_("introduction (Japanese)"), blank=True)
    intro_en = RichTextField(_("introduction (English)"), blank=True)

    content_panels = [*Page.content_panels, FieldPanel("intro"), FieldPanel("intro_en")]
    max_count = 1
    subpage_types = ["cms.StandardPage", "courses.CourseIndexPage"]

    class Meta:
        verbose_name = _("home page")

    def get_context(self, request, *args, **kwargs):
        context = super().get_context(request, *args, **kwargs)
        context["intro_text"] = localized(self, "intro")
        context["sections"] = home_page_sections(request)
        return context


class StandardPage(Page):
    title_en = models.CharField(_("title (English)"), max_length=255, blank=True)
    body = StreamField(BodyBlock(), verbose_name=_("body (Japanese)"), blank=True)
    body_en = StreamField(BodyBlock(), verbose_name=_("body (English)"), blank=True)

    content_panels = [*Page.content_panels, FieldPanel("title_en"), FieldPanel("body"), FieldPanel("body_en")]
    subpage_types = ["cms.StandardPage"]

    class Meta:
        verbose_name = _("standard page")


@register_setting(icon="site")
class SiteSettings(BaseSiteSetting):
    """What the public pages tell residents: how to reach a person, and the privacy policy they accept."""

    phone_number = models.CharField(_("enquiry phone number"), max_length=20, blank=True)
    phone_hours = models.CharField(_("phone hours (Japanese)"), max_length=100, blank=True)
    phone_hours_en = models.CharField(_("phone hours (English)"), max_length=100, blank=True)
    privacy_policy_page = models.ForeignKey(
        "wagtailcore.Page", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("privacy policy page"),
    )

    # Every public page's footer links the privacy policy page: read it with the settings (one statement, not two).
    select_related = ["privacy_policy_page"]

    panels = [
        MultiFieldPanel([FieldPanel("phone_number"), FieldPanel("phone_hours"), FieldPanel("phone_hours_en")],
                        heading=_("Phone")),
        FieldPanel("privacy_policy_page"),
    ]

    class Meta:
        verbose_name = _("site settings")


@register_setting(icon="globe")
class MunicipalitySettings(BaseGenericSetting):
    """The municipality this deployment serves. Loaded from CSV by `manage.py load_municipality`."""

    prefecture_name = models.CharField(_("prefecture"), max_length=20, blank=True)
    prefecture_code = models.CharField(_("prefecture code"), max_length=2, blank=True)
    name = models.CharField(_("municipality"), max_length=50, blank=True)
    name_en = models.CharField(_("municipality (English)"), max_length=100, blank=True)
    code = models.CharField(_("local government code"), max_length=6, blank=True,
                            help_text=_("Six digits including the check digit, e.g. 141305."))

    panels = [FieldPanel("prefecture_name"), FieldPanel("prefecture_code"), FieldPanel("name"),
              FieldPanel("name_en"), FieldPanel("code")]

    class Meta:
        verbose_name = _("municipality")

    def __str__(self):
        return self.name


class Heartbeat(models.Model):
    """When a background process last ran: one row per periodic job or worker, written by cms.heartbeats.beat().

    Read by the readiness endpoint and the admin home panel (cms.health) to warn when a job is late. Holds job
    names, times and counts only, never personal data."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    last_run_at = models.DateTimeField(_("last run"))
    last_ok_at = models.DateTimeField(_("last successful run"), null=True, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True,
                               help_text=_("What the last run reported (counts)."))

    class Meta:
        ordering = ["name"]
        verbose_name = _("heartbeat")
        verbose_name_plural = _("heartbeats")

    def __str__(self):
        return self.name



def _hiragana_only(value: str) -> None:
    if not re.fullmatch(r"[ぁ-ゖー・ ]+", value or ""):
        raise ValidationError(_("Write the reading in hiragana."))


class Reading(models.Model):
    """A reading (ふりがな) staff set for a word the analyser reads wrongly, mostly place and venue names
    (cms.furigana). It wins everywhere the word appears on the public site when furigana are shown."""

    text = models.CharField(_("word as written"), max_length=50, unique=True,
                            help_text=_("For example: 麻生区"))
    reading = models.CharField(_("reading (hiragana)"), max_length=100, validators=[_hiragana_only],
                               help_text=_("For example: あさおく"))
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["text"]
        verbose_name = _("reading (furigana)")
        verbose_name_plural = _("readings (furigana)")

    def __str__(self):
        return f"{self.text}（{self.reading}）"

    def save(self, *args, **kwargs):
        from cms import furigana  # furigana reads this model

        super().save(*args, **kwargs)
        furigana.forget_corrections()

    def delete(self, *args, **kwargs):
        from cms import furigana  # furigana reads this model

        result = super().delete(*args, **kwargs)
        furigana.forget_corrections()
        return result
