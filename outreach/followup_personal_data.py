"""A participant's follow-ups (a month after the class) in their personal-data view and export
(courses.data_requests), registered with the `personal_data_sections` hook from outreach/wagtail_hooks.py. Like the
can-do checks, follow-ups hold no contact data, so erasure leaves them as they are."""

from collections.abc import Iterator

from django.db.models import Prefetch

from courses.data_requests import DataSection, when
from courses.models import Participant
from outreach.models import FollowUp, FollowUpAnswer


def _export(follow_up: FollowUp) -> dict:
    return {
        "id": follow_up.pk, "registration": follow_up.registration_id,
        "source": str(follow_up.get_source_display()), "submitted_at": when(follow_up.submitted_at),
        "answers": [{"question": str(answer.task), "answer": str(answer.get_answer_display())}
                    for answer in follow_up.answers.all()],
    }


def _csv_rows(record: dict) -> Iterator[tuple[str, object]]:
    for name, value in record.items():
        if name != "answers":
            yield name, value
    for answer in record["answers"]:
        yield answer["question"], answer["answer"]


def follow_ups_section(participant: Participant) -> DataSection:
    answers = FollowUpAnswer.objects.select_related("task").order_by("task__number")
    follow_ups = list(FollowUp.objects.filter(registration__participant=participant)
                      .prefetch_related(Prefetch("answers", queryset=answers)).order_by("submitted_at", "pk"))
    return DataSection(key="follow_ups", objects=follow_ups, template_name="outreach/followup/personal_data.html",
                       export=_export, csv_rows=_csv_rows)
