"""The follow-up a month after the class (追跡調査): did the people we taught go on to do things on their own?

Sending
-------
`queue_follow_ups` (cron: `manage.py queue_follow_ups`, daily or more often; safe to repeat) queues one message of
kind FOLLOW_UP per registration marked attended of a held session that ended DEKIRU_FOLLOW_UP_DAYS (default 30)
ago or more, and less than DEKIRU_FOLLOW_UP_DAYS + DEKIRU_FOLLOW_UP_WINDOW_DAYS (default 14) ago, so switching the
feature on never writes to people taught long ago. Once per registration (key "follow_up:reg=N"), and once per
person per course: a person who attended several sessions of one course (a series) is asked once. Nobody is asked
whose follow-up was already recorded (e.g. on the tablet at a later class). courses.outbox picks the channel
(e-mail, SMS, the call list; LINE where linked); the message's context carries the signed link
(`follow_up_url`, absolute, in the resident's language) and the questions in that language (`follow_up_questions`,
what staff read out from the call list, with the four answers), since courses renders it without importing us.

The link
--------
/follow-up/<id>-<mac>/: the registration id and 22 characters (132 bits) of an HMAC of the id and the
registration's random key (courses.Registration.token_key), under a salt of its own. Short, so an SMS keeps it in
two segments. A changed character or a registration-page token gives 404; rotating the key revokes it. It can be
used from the end of the session until DEKIRU_FOLLOW_UP_DAYS + DEKIRU_FOLLOW_UP_LINK_DAYS (default 60) days after;
then the page says the time is over (410). Staff typing in paper sheets or phone answers are not limited in time.

Recording
---------
`record_follow_up`: one FollowUp per registration (attended, session not cancelled), its answers replaced on a
second submission (same row), every asked question answered (one of the four answers; no default), audit entry
without names. The same path for the resident's link, the tablet, paper sheets and answers taken by phone.

Figures (documented in the report; every figure suppressed below the small-cell threshold, outreach.suppression)
----------------------------------------------------------------------------------------------------------------
- *Asked*: registrations (attended, in the period by the session's start, in the viewer's scope) that were sent a
  follow-up (a FOLLOW_UP message not withdrawn) or whose follow-up was recorded. *Answered*: those with a
  FollowUp. *Response rate* = answered ÷ asked.
- *Doing it on their own* (per question): answers "yes, on my own" ÷ answers other than "no need" (those who have
  no need are left out: not doing what one does not need is no failure). By age band (65–74 / 75+ split), ward of
  residence and course topic (a course with two topics counts under both, so topics have no total).
- *Change from before the class* (per question with related can-do items): among those who answered the
  question (other than "no need") and answered at least one of its related items in the "before" can-do check,
  *before* = the share whose lowest "before" answer on those items was "on my own" or better, *after* = the share
  who answered "yes, on my own"; the change is after − before in percentage points, on the same people.
- *By framework theme*: for each theme of each framework (FrameworkTheme), the share of can-do answers "on my own"
  or better on the theme's items before and after the class (answers, people counted for suppression), and the
  share "yes, on my own" on the theme's follow-up questions.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, F, IntegerField, Min, OuterRef, Q, Subquery
from django.http import Http404
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext_lazy as _

from cms.audit import acting_user, log
from cms.i18n import localized
from cms.sending import absolute
from courses import outbox
from courses.models import OutgoingMessage, Registration, Session, Topic
from outreach import bands, metrics, suppression
from outreach.models import (
    FollowUp,
    FollowUpAnswer,
    FollowUpTask,
    Framework,
    FrameworkTheme,
    SelfAssessment,
    SkillScore,
)
from partners.models import Ward

Answer = FollowUpAnswer.Answer
Source = FollowUp.Source
Kind = OutgoingMessage.Kind
SALT = "dekiru.outreach.follow_up"
MAC_LENGTH = 22
ON_MY_OWN = 2  # SkillScore.Score.ON_MY_OWN

LOG_ACTIONS = {
    "outreach.follow_up.recorded": _("Follow-up recorded"),
    "outreach.follow_up.replaced": _("Follow-up answers replaced"),
}


def follow_up_days() -> int:
    return int(getattr(settings, "DEKIRU_FOLLOW_UP_DAYS", 30))


def window_days() -> int:
    return int(getattr(settings, "DEKIRU_FOLLOW_UP_WINDOW_DAYS", 14))


def link_days() -> int:
    return int(getattr(settings, "DEKIRU_FOLLOW_UP_LINK_DAYS", 60))


# --- Errors -----------------------------------------------------------------------------------------------------

class FollowUpError(Exception):
    message = _("The answers could not be saved.")

    def __init__(self, message=None):
        if message is not None:
            self.message = message
        super().__init__(str(self.message))


class NotAttended(FollowUpError):
    message = _("The follow-up is for people who attended the class.")


class SessionCancelled(FollowUpError):
    message = _("This class was cancelled, so there is no follow-up for it.")


class InvalidAnswers(FollowUpError):
    message = _("Please answer every question with one of the four answers.")


def refusal(registration: Registration) -> FollowUpError | None:
    if registration.session.is_cancelled:
        return SessionCancelled()
    if registration.status != Registration.Status.ATTENDED:
        return NotAttended()
    return None


def asked_tasks() -> list[FollowUpTask]:
    """The questions on the form, in order. One query."""
    return list(FollowUpTask.objects.filter(active=True).order_by("number"))


def previous_answers(registration: Registration) -> dict[int, str]:
    """{task id: answer} already recorded, empty when none. One query."""
    return dict(FollowUpAnswer.objects.filter(follow_up__registration=registration).values_list("task_id", "answer"))


def record_follow_up(*, registration: Registration, answers: Mapping, source: str, actor=None) -> FollowUp:
    """Record the follow-up of `registration`: `answers` maps task ids (or FollowUpTasks) to one of Answer's values,
    for every asked question. A second call replaces the answers on the same row. Raises FollowUpError; changes
    nothing then."""
    if source not in Source.values:
        raise ValueError(f"Unknown follow-up source: {source!r}")
    user = acting_user(actor)
    with transaction.atomic():
        locked = (Registration.objects.select_for_update(of=("self",)).select_related("session")
                  .get(pk=registration.pk))
        if (refused := refusal(locked)) is not None:
            raise refused
        tasks = asked_tasks()
        given = {(key.pk if isinstance(key, FollowUpTask) else key): value for key, value in answers.items()}
        try:
            given = {int(key): value for key, value in given.items()}
        except (TypeError, ValueError) as exc:
            raise InvalidAnswers() from exc
        if set(given) != {task.pk for task in tasks} or any(value not in Answer.values for value in given.values()):
            raise InvalidAnswers()
        now = timezone.now()
        follow_up, created = FollowUp.objects.get_or_create(
            registration=locked, defaults={"source": source, "entered_by": user, "submitted_at": now})
        if not created:
            follow_up.source, follow_up.entered_by, follow_up.submitted_at = source, user, now
            follow_up.save(update_fields=["source", "entered_by", "submitted_at"])
            follow_up.answers.all().delete()
        FollowUpAnswer.objects.bulk_create(
            [FollowUpAnswer(follow_up=follow_up, task=task, answer=given[task.pk]) for task in tasks])
        action = "outreach.follow_up.recorded" if created else "outreach.follow_up.replaced"
        log(follow_up, action, user=user, title=f"Follow-up {follow_up.pk} – registration {locked.pk}",
            data={"registration": locked.pk, "session": locked.session_id, "source": source,
                  "answers": len(tasks)})
    return follow_up


# --- The signed link --------------------------------------------------------------------------------------------

class LinkExpired(Exception):
    def __init__(self, registration):
        self.registration = registration
        super().__init__("Follow-up link expired")


def _mac(pk: int, key: str) -> str:
    digest = salted_hmac(SALT, f"{pk}:{key}", algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest).decode()[:MAC_LENGTH]


def follow_up_token(registration) -> str:
    return f"{registration.pk}-{_mac(registration.pk, registration.token_key)}"


def follow_up_path(registration) -> str:
    """/follow-up/<token>/ (or /en/follow-up/<token>/), in the active language."""
    return reverse("outreach:follow_up", args=[follow_up_token(registration)])


def link_opens_at(registration) -> datetime:
    return registration.session.ends_at


def link_expires_at(registration) -> datetime:
    return registration.session.ends_at + timedelta(days=follow_up_days() + link_days())


def registration_from_token(token: str, queryset=None, *, now: datetime | None = None):
    """The registration the token names; Http404 for anything not ours, LinkExpired past its time."""
    pk, _sep, mac = (token or "").partition("-")
    if not pk.isdigit() or len(pk) > 12 or len(mac) != MAC_LENGTH:
        raise Http404("Invalid follow-up link")
    queryset = queryset if queryset is not None else Registration.objects.select_related("session")
    registration = queryset.filter(pk=int(pk)).first()
    if registration is None or not constant_time_compare(mac, _mac(registration.pk, registration.token_key)):
        raise Http404("Invalid follow-up link")
    now = now or timezone.now()
    if not (link_opens_at(registration) <= now < link_expires_at(registration)):
        raise LinkExpired(registration)
    return registration


# --- Queueing ---------------------------------------------------------------------------------------------------

def message_context(registration: Registration, tasks: list[FollowUpTask]) -> dict:
    """The link and the questions, in the resident's language (the e-mail, SMS, LINE and call list read them)."""
    language = registration.participant.language or settings.LANGUAGE_CODE
    with translation.override(language):
        return {"follow_up_url": absolute(follow_up_path(registration)),
                "follow_up_questions": [localized(task, "text", language) for task in tasks]}


def due_registrations(now: datetime):
    days = timedelta(days=follow_up_days())
    already = OutgoingMessage.objects.filter(
        kind=Kind.FOLLOW_UP, registration__participant_id=OuterRef("participant_id"),
        registration__session__course_id=OuterRef("session__course_id"))
    return (Registration.objects
            .filter(status=Registration.Status.ATTENDED, session__status=Session.Status.SCHEDULED,
                    session__ends_at__lte=now - days, session__ends_at__gt=now - days - timedelta(days=window_days()))
            .exclude(Exists(FollowUp.objects.filter(registration=OuterRef("pk"))))
            .exclude(Exists(already.exclude(registration=OuterRef("pk"))))
            .select_related("participant", "session").order_by("session__ends_at", "pk"))


def queue_follow_ups(*, now: datetime | None = None) -> int:
    """Queue the follow-ups that are due (see the module's docstring). Returns how many were new. A constant number
    of queries whatever the number of people (one person per course: the earliest session's registration)."""
    now = now or timezone.now()
    tasks = asked_tasks()
    if not tasks:
        return 0
    chosen, seen = [], set()
    for registration in due_registrations(now):
        person_course = (registration.participant_id, registration.session.course_id)
        if person_course in seen:
            continue
        seen.add(person_course)
        chosen.append(registration)
    return outbox.queue_messages(
        outbox.build_message(Kind.FOLLOW_UP, registration, now=now, context=message_context(registration, tasks),
                             key=outbox.message_key(Kind.FOLLOW_UP, registration))
        for registration in chosen)


# --- Figures ----------------------------------------------------------------------------------------------------

def _registrations(filters: metrics.Filters):
    queryset = Registration.objects.filter(status=Registration.Status.ATTENDED)
    period = filters.period()
    if period:
        queryset = queryset.filter(session__starts_at__gte=period[0], session__starts_at__lt=period[1])
    if filters.scope is not None:
        queryset = queryset.filter(session__organiser_id__in=sorted(filters.scope))
    if filters.partner:
        queryset = queryset.filter(session__organiser_id=filters.partner)
    return queryset


def _answers(filters: metrics.Filters):
    return FollowUpAnswer.objects.filter(follow_up__registration__in=_registrations(filters))


def _share(part: int, whole: int) -> float | None:
    return metrics.rate(part, whole)


@dataclass
class Cell:
    """A published share: the value (%), its base (people), and whether it is hidden."""

    share: float | None
    base: int
    hidden: bool

    @property
    def shown(self):
        return suppression.MARK if self.hidden else self.share


@dataclass
class Breakdown:
    """Share doing each task on their own, by a dimension (rows: questions; columns: bands, wards or topics)."""

    title: str
    heading: str
    columns: list[tuple[object, str]]
    rows: list[tuple[FollowUpTask, list[Cell], Cell]]
    with_total: bool = True


@dataclass
class Change:
    task: FollowUpTask
    people: int
    before: float | None
    after: float | None
    hidden: bool

    @property
    def points(self) -> float | None:
        if self.hidden or self.before is None or self.after is None:
            return None
        return round(self.after - self.before, 1)


@dataclass
class ThemeLine:
    theme: FrameworkTheme
    items: list[int]
    tasks: list[str]
    people_checked: int
    before: float | None
    after: float | None
    checks_hidden: bool
    people_followed: int
    on_own: float | None
    follow_hidden: bool

    @property
    def label(self) -> str:
        return localized(self.theme, "name")


@dataclass
class Outcomes:
    filters: metrics.Filters
    asked: int = 0
    answered: int = 0
    asked_hidden: bool = False
    answered_hidden: bool = False
    breakdowns: list[Breakdown] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    frameworks: list[tuple[Framework, list[ThemeLine]]] = field(default_factory=list)

    @property
    def response_rate(self) -> float | None:
        return None if self.answered_hidden else _share(self.answered, self.asked)

    @property
    def has_data(self) -> bool:
        return bool(self.asked or self.answered)


def response_figures(filters: metrics.Filters) -> tuple[int, int]:
    """(asked, answered), in one query."""
    sent = OutgoingMessage.objects.filter(registration=OuterRef("pk"), kind=Kind.FOLLOW_UP).exclude(
        status=OutgoingMessage.Status.CANCELLED)
    answered = FollowUp.objects.filter(registration=OuterRef("pk"))
    totals = _registrations(filters).annotate(was_sent=Exists(sent), has_answer=Exists(answered)).aggregate(
        asked=Count("pk", filter=Q(was_sent=True) | Q(has_answer=True)),
        answered=Count("pk", filter=Q(has_answer=True)))
    return totals["asked"], totals["answered"]


_COUNTS = {"base": Count("pk", filter=~Q(answer=Answer.NO_NEED)), "yes": Count("pk", filter=Q(answer=Answer.YES))}


def _breakdown(title, heading, tasks, columns, grouped: dict, *, with_total: bool) -> Breakdown:
    """`grouped`: {(task id, column key): (base, yes)}. Suppression on the bases (people answering), with the
    totals when published (secondary suppression); the shares hidden wherever their base is."""
    keys = [key for key, _label in columns]
    bases = [[grouped.get((task.pk, key), (0, 0))[0] for key in keys] for task in tasks]
    if with_total:
        mask = suppression.suppress(bases) if tasks and keys else []
    else:
        limit = suppression.threshold()
        mask = [[0 < base < limit for base in row] + [False] for row in bases]
    rows = []
    for i, task in enumerate(tasks):
        cells = []
        total_base = total_yes = 0
        for j, key in enumerate(keys):
            base, yes = grouped.get((task.pk, key), (0, 0))
            total_base, total_yes = total_base + base, total_yes + yes
            cells.append(Cell(_share(yes, base), base, mask[i][j]))
        if with_total:
            total = Cell(_share(total_yes, total_base), total_base, mask[i][len(keys)])
        else:
            total = Cell(None, 0, True)
        rows.append((task, cells, total))
    return Breakdown(title=title, heading=heading, columns=columns, rows=rows, with_total=with_total)


def breakdowns(filters: metrics.Filters, tasks: list[FollowUpTask]) -> list[Breakdown]:
    """Share on their own by age band, ward and topic: one query each (plus the wards' and topics' names)."""
    answers = _answers(filters)
    person = "follow_up__registration__participant__"
    band_rows = (answers.annotate(band=bands.rolled(f"{person}age_band", bands.ELDERLY))
                 .values("task_id", "band").annotate(**_COUNTS).order_by())
    by_band = {(row["task_id"], row["band"]): (row["base"], row["yes"]) for row in band_rows}
    band_columns = [(key, bands.label(key)) for key in bands.keys(bands.ELDERLY)] + [("", bands.label(""))]
    ward_rows = answers.values("task_id", ward=F(f"{person}ward_id")).annotate(**_COUNTS).order_by()
    by_ward = {(row["task_id"], row["ward"]): (row["base"], row["yes"]) for row in ward_rows}
    wards = [(ward.pk, localized(ward, "name")) for ward in Ward.objects.order_by("sort_order", "code")]
    ward_columns = [*wards, (None, _("Not given or outside the city"))]
    topic_rows = (answers.filter(follow_up__registration__session__course__topics__isnull=False)
                  .values("task_id", topic=F("follow_up__registration__session__course__topics"))
                  .annotate(**_COUNTS).order_by())
    by_topic = {(row["task_id"], row["topic"]): (row["base"], row["yes"]) for row in topic_rows}
    used = {topic for _task, topic in by_topic}
    # Every topic is read (a short list), so the number of queries does not depend on whether any was answered.
    topic_columns = [(topic.pk, localized(topic, "name")) for topic in Topic.objects.order_by("name")
                     if topic.pk in used]
    return [
        _breakdown(_("Doing it on their own, by age band (%)"), _("Question"), tasks, band_columns, by_band,
                   with_total=True),
        _breakdown(_("Doing it on their own, by ward of residence (%)"), _("Question"), tasks, ward_columns,
                   by_ward, with_total=True),
        _breakdown(_("Doing it on their own, by course topic (%)"), _("Question"), tasks, topic_columns,
                   by_topic, with_total=False),
    ]


def changes(filters: metrics.Filters, tasks: list[FollowUpTask]) -> list[Change]:
    """The change from before the class, per question with related items: one query."""
    lowest_before = (SkillScore.objects
                     .filter(assessment__registration_id=OuterRef("follow_up__registration_id"),
                             assessment__kind=SelfAssessment.Kind.PRE, item__follow_up_tasks=OuterRef("task_id"))
                     .order_by().values("assessment__registration_id").annotate(lowest=Min("score"))
                     .values("lowest"))
    rows = (_answers(filters).exclude(answer=Answer.NO_NEED)
            .annotate(before=Subquery(lowest_before, output_field=IntegerField()))
            .filter(before__isnull=False).values("task_id")
            .annotate(people=Count("pk"), before_on_own=Count("pk", filter=Q(before__gte=ON_MY_OWN)),
                      after_on_own=Count("pk", filter=Q(answer=Answer.YES))).order_by())
    by_task = {row["task_id"]: row for row in rows}
    limit = suppression.threshold()
    result = []
    for task in tasks:
        row = by_task.get(task.pk)
        if row is None:
            continue
        people = row["people"]
        result.append(Change(task=task, people=people, before=_share(row["before_on_own"], people),
                             after=_share(row["after_on_own"], people), hidden=0 < people < limit))
    return result


def framework_report(filters: metrics.Filters) -> list[tuple[Framework, list[ThemeLine]]]:
    """Every framework's themes with the can-do figures before / after on their items and the follow-up figures on
    their questions. Five queries whatever the number of frameworks and themes."""
    themes = list(FrameworkTheme.objects.select_related("framework").prefetch_related("skill_items", "follow_up_tasks")
                  .order_by("framework__sort_order", "framework__code", "sort_order", "code"))
    scores = (SkillScore.objects.filter(assessment__registration__in=_registrations(filters),
                                        item__framework_themes__isnull=False)
              .values(theme=F("item__framework_themes"), kind=F("assessment__kind"))
              .annotate(answers=Count("pk"), on_own=Count("pk", filter=Q(score__gte=ON_MY_OWN)),
                        people=Count("assessment__registration", distinct=True)).order_by())
    checks = {(row["theme"], row["kind"]): row for row in scores}
    follow = (_answers(filters).filter(task__framework_themes__isnull=False).exclude(answer=Answer.NO_NEED)
              .values(theme=F("task__framework_themes"))
              .annotate(answers=Count("pk"), yes=Count("pk", filter=Q(answer=Answer.YES)),
                        people=Count("follow_up", distinct=True)).order_by())
    followed = {row["theme"]: row for row in follow}
    limit = suppression.threshold()
    grouped: dict[int, tuple[Framework, list[ThemeLine]]] = {}
    for theme in themes:
        pre = checks.get((theme.pk, SelfAssessment.Kind.PRE), {})
        post = checks.get((theme.pk, SelfAssessment.Kind.POST), {})
        people_checked = post.get("people", 0)
        checks_hidden = 0 < people_checked < limit or 0 < pre.get("people", 0) < limit
        answered = followed.get(theme.pk, {})
        people_followed = answered.get("people", 0)
        line = ThemeLine(
            theme=theme, items=sorted(item.number for item in theme.skill_items.all()),
            tasks=[localized(task, "text") for task in sorted(theme.follow_up_tasks.all(), key=lambda t: t.number)],
            people_checked=people_checked, before=_share(pre.get("on_own", 0), pre.get("answers", 0)),
            after=_share(post.get("on_own", 0), post.get("answers", 0)), checks_hidden=checks_hidden,
            people_followed=people_followed, on_own=_share(answered.get("yes", 0), answered.get("answers", 0)),
            follow_hidden=0 < people_followed < limit)
        grouped.setdefault(theme.framework_id, (theme.framework, []))[1].append(line)
    return list(grouped.values())


def outcomes(filters: metrics.Filters) -> Outcomes:
    """Every outcome figure of the filters (period by the session's start, the viewer's scope). A fixed number of
    queries (pinned in tests/outreach/test_followups.py)."""
    tasks = asked_tasks()
    asked, answered = response_figures(filters)
    limit = suppression.threshold()
    mask = suppression.suppress([[answered, asked - answered]])
    return Outcomes(filters=filters, asked=asked, answered=answered, asked_hidden=0 < asked < limit,
                    answered_hidden=mask[0][0] or mask[0][2], breakdowns=breakdowns(filters, tasks),
                    changes=changes(filters, tasks), frameworks=framework_report(filters))
