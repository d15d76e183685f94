"""The can-do self-assessment (できることチェック): the rules for recording one, whoever enters it.

The same code path for the resident's own link (source "online"), the tablet at the class ("tablet") and staff
typing in a paper sheet ("paper"). `record_self_assessment` runs in a transaction, locks the registration row,
creates the registration's one assessment of that kind or replaces its answers (same row: a re-submission
overwrites), writes an audit entry without names, and raises `AssessmentError` (translated `.message`) when a rule
refuses.

Who may have which check (decided here, for every source):
- "pre" (before the course): a registration with a seat, confirmed or already marked attended (walk-ins are
  attended registrations, so they can do it at the door). Not for the waiting list (they may never get a seat;
  once promoted they can), not for cancelled registrations or no-shows (they did not take the course), never for
  a cancelled session.
- "post" (after the course): only a registration marked attended.
When the online link may be used is the link's business (outreach.assessment_tokens: pre until the session ends,
post for 60 days after); staff typing in paper sheets are not limited in time.

Which items: the items the course names (CoursePage.skills), or all of them when it names none. Each answer is one
of the four levels 0–3 (SkillScore.Score). At least one answer; the public and tablet forms ask for every item,
the paper form accepts blanks (a sheet comes back with an item left empty).
"""

from collections.abc import Mapping

from django.db import transaction
from django.db.models import Exists, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cms.audit import acting_user, log
from courses.models import Registration
from outreach.models import SelfAssessment, SkillItem, SkillScore

Kind = SelfAssessment.Kind
Source = SelfAssessment.Source
Status = Registration.Status

PRE_STATUSES = (Status.CONFIRMED, Status.ATTENDED)
POST_STATUSES = (Status.ATTENDED,)
ALLOWED_STATUSES = {Kind.PRE: PRE_STATUSES, Kind.POST: POST_STATUSES}

# The audit-log actions written here, with their labels (registered by outreach.admin.assessments).
LOG_ACTIONS = {
    "outreach.self_assessment.recorded": _("Can-do check recorded"),
    "outreach.self_assessment.replaced": _("Can-do check answers replaced"),
}


class AssessmentError(Exception):
    """A rule refused the answers. `message` is translated and safe to show to the person."""

    message = _("The can-do check could not be saved.")

    def __init__(self, message=None):
        if message is not None:
            self.message = message
        super().__init__(str(self.message))


class AssessmentNotAllowed(AssessmentError):
    message = _("This can-do check is not available for this booking.")


class PreCheckNotAllowed(AssessmentNotAllowed):
    message = _("The “before” check is for people with a seat in the class.")


class PostCheckNotAllowed(AssessmentNotAllowed):
    message = _("The “after” check is for people who attended the class.")


class SessionCancelled(AssessmentNotAllowed):
    message = _("This class was cancelled, so there is no can-do check for it.")


class InvalidAnswers(AssessmentError):
    message = _("Please check the answers.")


class NoAnswers(InvalidAnswers):
    message = _("Please answer at least one question.")


class ItemNotInCourse(InvalidAnswers):
    message = _("An answer was given for a question this course does not ask.")


class ScoreOutOfRange(InvalidAnswers):
    message = _("Each answer must be one of the four choices.")


def course_items(course) -> list[SkillItem]:
    """The items a course teaches, by number; all the items when the course names none. One query."""
    taught = SkillItem.courses.through.objects.filter(coursepage_id=course.pk)
    return list(SkillItem.objects.filter(Q(pk__in=taught.values("skillitem_id")) | ~Exists(taught))
                .order_by("number"))


def refusal(registration: Registration, kind: str) -> AssessmentNotAllowed | None:
    """Why `registration` may not have a `kind` check (an exception to raise or show), or None when it may."""
    if registration.session.is_cancelled:
        return SessionCancelled()
    if registration.status not in ALLOWED_STATUSES[kind]:
        return PreCheckNotAllowed() if kind == Kind.PRE else PostCheckNotAllowed()
    return None


def allowed_kinds(registration: Registration) -> list[str]:
    return [kind for kind in (Kind.PRE, Kind.POST) if refusal(registration, kind) is None]


def previous_scores(registration: Registration, kind: str) -> dict[int, int]:
    """The answers already given ({item number: score}), empty when there are none. One query."""
    return dict(SkillScore.objects.filter(assessment__registration=registration, assessment__kind=kind)
                .values_list("item__number", "score"))


def _resolve(scores: Mapping, items: list[SkillItem]) -> list[tuple[SkillItem, int]]:
    """[(item, score)] for the answered items; raises InvalidAnswers for unknown items or levels."""
    by_number = {item.number: item for item in items}
    answers = {}
    for key, score in scores.items():
        if score is None or score == "":
            continue  # not answered
        number = key.number if isinstance(key, SkillItem) else key
        try:
            number = int(number)
        except (TypeError, ValueError) as exc:
            raise ItemNotInCourse() from exc
        if number not in by_number:
            raise ItemNotInCourse()
        if isinstance(score, bool) or not isinstance(score, int):
            try:
                score = int(str(score))
            except ValueError as exc:
                raise ScoreOutOfRange() from exc
        if score not in SkillScore.Score.values:
            raise ScoreOutOfRange()
        answers[number] = score
    if not answers:
        raise NoAnswers()
    return [(by_number[number], answers[number]) for number in sorted(answers)]


def record_self_assessment(*, registration: Registration, kind: str, scores: Mapping, source: str,
                           actor=None) -> SelfAssessment:
    """Record the `kind` ("pre" / "post") check of `registration`: `scores` maps item numbers (or SkillItems) to
    levels 0–3; unanswered items may be left out or given as None. A second call for the same registration and
    kind replaces the answers of the same SelfAssessment row (items not answered again are dropped) and records
    the new source, person and time. Safe against double submission: the registration row is locked and the
    (registration, kind) pair is unique. Raises AssessmentError subclasses; changes nothing then."""
    if kind not in Kind.values:
        raise ValueError(f"Unknown self-assessment kind: {kind!r}")
    if source not in Source.values:
        raise ValueError(f"Unknown self-assessment source: {source!r}")
    user = acting_user(actor)
    with transaction.atomic():
        locked = (Registration.objects.select_for_update(of=("self",))
                  .select_related("session", "session__course").get(pk=registration.pk))
        if (refused := refusal(locked, kind)) is not None:
            raise refused
        answers = _resolve(scores, course_items(locked.session.course))
        now = timezone.now()
        assessment, created = SelfAssessment.objects.get_or_create(
            registration=locked, kind=kind, defaults={"source": source, "entered_by": user, "submitted_at": now})
        if not created:
            assessment.source, assessment.entered_by, assessment.submitted_at = source, user, now
            assessment.save(update_fields=["source", "entered_by", "submitted_at"])
            assessment.scores.all().delete()
        SkillScore.objects.bulk_create(
            [SkillScore(assessment=assessment, item=item, score=score) for item, score in answers])
        action = "outreach.self_assessment.recorded" if created else "outreach.self_assessment.replaced"
        # No names: the entry is labelled with ids, as cms.audit does for registrations.
        log(assessment, action, user=user,
            title=f"Self-assessment {assessment.pk} ({kind}) – registration {locked.pk}",
            data={"registration": locked.pk, "session": locked.session_id, "kind": kind, "source": source,
                  "answers": len(answers)})
    return assessment
