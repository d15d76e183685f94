"""The outreach app's section of a participant's personal data (courses.data_requests): their can-do
self-assessments, on the admin page and in the export. Registered with the `personal_data_sections` hook from
outreach/wagtail_hooks.py. Self-assessments hold no contact data, so erasure leaves them as they are."""

from collections.abc import Iterator

from django.db.models import Prefetch

from courses.data_requests import DataSection, when
from courses.models import Participant
from outreach.models import SelfAssessment, SkillScore


def _export(assessment: SelfAssessment) -> dict:
    return {
        "id": assessment.pk, "registration": assessment.registration_id,
        "kind": str(assessment.get_kind_display()), "source": str(assessment.get_source_display()),
        "submitted_at": when(assessment.submitted_at),
        "scores": [{"item": score.item.number, "text": str(score.item), "score": score.score,
                    "meaning": str(score.get_score_display())} for score in assessment.scores.all()],
    }


def _csv_rows(record: dict) -> Iterator[tuple[str, object]]:
    """The assessment's fields, then one row per answer ("item 3: …", score)."""
    for name, value in record.items():
        if name != "scores":
            yield name, value
    for score in record["scores"]:
        yield f"item {score['item']}: {score['text']}", score["score"]


def self_assessments_section(participant: Participant) -> DataSection:
    scores = SkillScore.objects.select_related("item").order_by("item__number")
    assessments = list(SelfAssessment.objects.filter(registration__participant=participant)
                       .prefetch_related(Prefetch("scores", queryset=scores)).order_by("submitted_at", "pk"))
    return DataSection(key="self_assessments", objects=assessments,
                       template_name="outreach/admin/personal_data_self_assessments.html",
                       export=_export, csv_rows=_csv_rows)
