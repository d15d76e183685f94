from django.db import models
from django.utils.translation import gettext_lazy as _

from cms.i18n import localized


class SkillItem(models.Model):
    """One of the can-do self-assessment items (できることチェック). Items are data, loaded by a migration."""

    class Group(models.TextChoices):
        FOUNDATION = "foundation", _("Foundation")
        COMMUNICATING = "communicating", _("Communicating")
        INFORMATION = "information", _("Handling information")
        TRANSACTING = "transacting", _("Transacting")
        SAFE_ONLINE = "safe_online", _("Being safe online")
        PROBLEM_SOLVING = "problem_solving", _("Problem solving")

    number = models.PositiveSmallIntegerField(_("number"), unique=True)
    text = models.CharField(_("text"), max_length=200)
    text_en = models.CharField(_("text (English)"), max_length=200, blank=True)
    group = models.CharField(_("group"), max_length=20, choices=Group.choices)

    class Meta:
        ordering = ["number"]
        verbose_name = _("can-do item")
        verbose_name_plural = _("can-do items")

    def __str__(self):
        return f"{self.number}. {localized(self, 'text')}"
