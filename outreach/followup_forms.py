"""The follow-up form: one question per asked task, each the four answers as radio buttons, none chosen until the
person chooses (no silent default), every question required. The same form serves the resident's page, the tablet
and staff typing in a paper sheet or answers taken by phone; the rules are in outreach.followups."""

from django import forms
from django.utils.translation import gettext_lazy as _

from cms.i18n import localized
from outreach.models import FollowUpAnswer, FollowUpTask

FIELD_PREFIX = "task_"


def field_name(task: FollowUpTask) -> str:
    return f"{FIELD_PREFIX}{task.number}"


class FollowUpForm(forms.Form):
    """`tasks`: the asked questions (outreach.followups.asked_tasks); `previous`: {task id: answer} shown as the
    current answers (a second visit), else nothing is chosen."""

    def __init__(self, *args, tasks: list[FollowUpTask], previous: dict[int, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.tasks = tasks
        previous = previous or {}
        for task in tasks:
            self.fields[field_name(task)] = forms.ChoiceField(
                label=f"{task.number}. {localized(task, 'text')}", choices=FollowUpAnswer.Answer.choices,
                required=True, widget=forms.RadioSelect, initial=previous.get(task.pk),
                error_messages={"required": _("Please choose one answer."),
                                "invalid_choice": _("Please choose one of the four answers.")})

    def answers(self) -> dict[int, str]:
        """{task id: answer}, for outreach.followups.record_follow_up."""
        return {task.pk: self.cleaned_data[field_name(task)] for task in self.tasks}

    def questions(self) -> list[forms.BoundField]:
        return [self[field_name(task)] for task in self.tasks]
