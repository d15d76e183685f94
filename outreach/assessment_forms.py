"""The can-do check form: one question per item of the course, each the four levels as radio buttons. The same
form serves the resident's page, the tablet at the class and the paper entry; the rules are in
outreach.assessments."""

from django import forms
from django.utils.translation import gettext_lazy as _

from cms.i18n import localized
from outreach.models import SkillItem, SkillScore

FIELD_PREFIX = "item_"


def field_name(item: SkillItem) -> str:
    return f"{FIELD_PREFIX}{item.number}"


class SelfAssessmentForm(forms.Form):
    """`items`: the course's items (outreach.assessments.course_items); `previous`: {item number: score} shown
    as the current answers. `require_all`: every question must be answered (the resident and the tablet); off for
    paper sheets, where an item may have been left blank (then at least one answer is needed)."""

    def __init__(self, *args, items: list[SkillItem], previous: dict[int, int] | None = None,
                 require_all: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.items = items
        self.require_all = require_all
        previous = previous or {}
        # From paper, "left blank" is a choice of its own, so that a wrong tick can be taken back.
        choices = SkillScore.Score.choices if require_all else [("", _("Left blank")), *SkillScore.Score.choices]
        for item in items:
            self.fields[field_name(item)] = forms.TypedChoiceField(
                label=f"{item.number}. {localized(item, 'text')}", choices=choices, coerce=int, empty_value=None,
                required=require_all, widget=forms.RadioSelect,
                initial=previous.get(item.number, None if require_all else ""),
                error_messages={"required": _("Please choose one answer.")})

    def clean(self):
        cleaned = super().clean()
        if not self.require_all and not self.errors and all(cleaned.get(name) is None for name in self.fields):
            raise forms.ValidationError(_("Please enter at least one answer."))
        return cleaned

    def scores(self) -> dict[int, int | None]:
        """{item number: score or None} from the cleaned data, for outreach.assessments.record_self_assessment."""
        return {item.number: self.cleaned_data.get(field_name(item)) for item in self.items}

    def questions(self) -> list[forms.BoundField]:
        return [self[field_name(item)] for item in self.items]


class FindRegistrationForm(forms.Form):
    """Paper entry: go straight to a registration by its number."""

    registration = forms.IntegerField(label=_("Registration number"), min_value=1)
