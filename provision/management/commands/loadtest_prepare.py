"""`manage.py loadtest_prepare`: the sessions the registration burst of the load test fights over, and the check
that nobody was overbooked afterwards (scripts/loadtest.sh, loadtest/locustfile.py, docs/benchmarks.md).

    manage.py loadtest_prepare --output run.json        # 10 new sessions of 20 seats on a live course
    manage.py loadtest_prepare --check run.json         # after the burst: counts per session, exit 1 on a problem

Everything goes through the same code as the admin: the site tree (`provision.services.ensure_site`), a partner with its
course group (`partners.services.create_partner`), a published course page, and the sessions as one weekly series
(`courses.series.create_series`, every weekday, so 10 sessions are 10 consecutive days starting a week from
today). Every run adds a new series (and a new run tag for the residents' names), so runs never mix; the course,
partner and venue are found again by name. Nothing is deleted.

The output file tells the load test what to post to: each session's registration form (the course page's routable
`register` sub-page), its capacity, and the run tag that the made-up residents' names and e-mail addresses carry.
"""

import json
import secrets
import sys
from dataclasses import dataclass, field
from datetime import time, timedelta
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count, Max, Q
from django.urls import reverse
from django.utils import timezone

from courses.models import CoursePage, Participant, Registration, Session
from courses.page_access import course_group_for
from courses.series import SeriesRule, create_series
from partners.models import Partner, Venue, Ward
from partners.services import create_partner
from provision.services import ensure_site

PARTNER_NAME = "負荷試験NPO"
PARTNER_NAME_EN = "Load test NPO"
VENUE_NAME = "負荷試験会場"
COURSE_SLUG = "loadtest-burst"
NAME_PREFIX = "負荷試験"  # every resident the load test registers is called "負荷試験 <run>-<n>"


def resident_name(run: str, n: int) -> str:
    return f"{NAME_PREFIX} {run}-{n}"


def prepare(*, sessions: int = 10, capacity: int = 20, starts_in_days: int = 7) -> dict:
    """Create `sessions` sessions of `capacity` seats, open for registration, on the load-test course.
    Returns the description written to the output file."""
    run = timezone.localtime().strftime("%m%d%H%M%S") + secrets.token_hex(2)
    with transaction.atomic():
        ensure_site()
        partner = Partner.objects.filter(name=PARTNER_NAME).first() or create_partner(
            name=PARTNER_NAME, name_en=PARTNER_NAME_EN, kind=Partner.Kind.NPO, contact_name="負荷 試験",
            email="loadtest@example.jp", phone="0440000000")
        venue = Venue.objects.filter(name=VENUE_NAME).order_by("pk").first() or Venue.objects.create(
            name=VENUE_NAME, name_en="Load test venue", ward=Ward.objects.order_by("sort_order").first(),
            address="川崎市中原区小杉町3-1", address_en="3-1 Kosugi-machi, Nakahara-ku", capacity=capacity,
            latitude="35.577000", longitude="139.659000", partner=partner)
        course = CoursePage.objects.filter(slug=COURSE_SLUG).first()
        if course is None:
            course = CoursePage(
                title="負荷試験 スマホ講座", slug=COURSE_SLUG, title_kana="フカシケン スマホコウザ",
                title_en="Load test smartphone class", summary="負荷試験用の講座です。",
                summary_en="A class for the load test.", what_to_bring="スマートフォン")
            course_group_for(partner).add_child(instance=course)
            course.save_revision().publish()
        first_day = timezone.localdate() + timedelta(days=starts_in_days)
        series = create_series(
            course=course, organiser=partner, venue=venue, capacity=capacity,
            rule=SeriesRule(weekdays=list(range(7)), start_time=time(10, 0), duration_minutes=120,
                            starts_on=first_day, ends_on=first_day + timedelta(days=sessions - 1),
                            skip_public_holidays=False))
    course = CoursePage.objects.get(pk=course.pk)
    session_rows = list(series.sessions.order_by("starts_at"))
    return {
        "run": run,
        "name_prefix": resident_name(run, 0).rsplit("-", 1)[0] + "-",
        "course_url": course.url,
        "capacity": capacity,
        "sessions": [{"id": s.pk, "capacity": s.capacity,
                      "register_path": reverse("courses:register", args=[s.pk])}
                     for s in session_rows],
    }


@dataclass
class SessionCount:
    session_id: int
    capacity: int
    seated: int
    waitlisted: int
    people: int  # distinct participants with an active (not cancelled) registration

    @property
    def expected_seated(self) -> int:
        return min(self.capacity, self.people)


@dataclass
class BurstCheck:
    sessions: list[SessionCount]
    duplicates: int  # (session, participant) pairs with more than one active registration
    duplicate_people: int  # the same made-up resident (name and phone) saved as more than one participant
    waitlist_gaps: int  # sessions whose waiting list is not numbered 1..n
    problems: list[str] = field(default_factory=list)  # overbooking, duplicates: what must never happen
    incomplete: str = ""  # fewer (or more) people registered than the burst sent: some were not served

    @property
    def integrity_ok(self) -> bool:
        return not self.problems

    @property
    def ok(self) -> bool:
        return not self.problems and not self.incomplete

    @property
    def seated(self) -> int:
        return sum(s.seated for s in self.sessions)

    @property
    def waitlisted(self) -> int:
        return sum(s.waitlisted for s in self.sessions)

    @property
    def people(self) -> int:
        return sum(s.people for s in self.sessions)


def check_burst(session_ids: list[int], *, name_prefix: str | None = None, expected_people: int | None = None
                ) -> BurstCheck:
    """After a burst: every session has exactly min(capacity, people who registered) seated, nobody is registered
    twice for one session, the waiting list is numbered without gaps, and (with `expected_people`) everyone who was
    sent got exactly one registration."""
    rows = (Session.objects.filter(pk__in=session_ids).order_by("pk").annotate(
        seated=Count("registrations", filter=Q(registrations__status__in=Registration.SEATED)),
        waitlisted=Count("registrations", filter=Q(registrations__status=Registration.Status.WAITLISTED)),
        people=Count("registrations__participant", filter=Q(registrations__status__in=Registration.ACTIVE),
                     distinct=True),
        last_position=Max("registrations__waitlist_position",
                          filter=Q(registrations__status=Registration.Status.WAITLISTED)),
    ))
    counts, gaps = [], 0
    for row in rows:
        counts.append(SessionCount(row.pk, row.capacity, row.seated, row.waitlisted, row.people))
        gaps += (row.last_position or 0) != row.waitlisted
    duplicates = (Registration.objects.filter(session_id__in=session_ids)
                  .exclude(status=Registration.Status.CANCELLED)
                  .values("session_id", "participant_id").annotate(n=Count("pk")).filter(n__gt=1).count())
    duplicate_people = 0
    if name_prefix:
        duplicate_people = (Participant.objects.filter(name__startswith=name_prefix)
                            .values("name", "phone").annotate(n=Count("pk")).filter(n__gt=1).count())
    check = BurstCheck(counts, duplicates, duplicate_people, gaps)
    if len(counts) != len(set(session_ids)):
        check.problems.append(f"{len(set(session_ids)) - len(counts)} session(s) not found")
    for s in counts:
        if s.seated != s.expected_seated:
            check.problems.append(f"session {s.session_id}: {s.seated} seated, expected {s.expected_seated} "
                                  f"(capacity {s.capacity}, {s.people} people)")
        if s.seated > s.capacity:
            check.problems.append(f"session {s.session_id}: OVERBOOKED ({s.seated} > {s.capacity})")
    if duplicates:
        check.problems.append(f"{duplicates} duplicate active registration(s)")
    if duplicate_people:
        check.problems.append(f"{duplicate_people} resident(s) saved as more than one participant")
    if gaps:
        check.problems.append(f"{gaps} session(s) with a gap in the waiting list")
    if expected_people is not None and check.people != expected_people:
        check.incomplete = f"{check.people} people registered, expected {expected_people}"
    return check


class Command(BaseCommand):
    help = ("Create the sessions for the load test's registration burst (--output FILE), or check them after the "
            "burst (--check FILE).")

    def add_arguments(self, parser):
        parser.add_argument("--sessions", type=int, default=10)
        parser.add_argument("--capacity", type=int, default=20)
        parser.add_argument("--starts-in-days", type=int, default=7)
        parser.add_argument("--output", help="write the run description (JSON) here; default: stdout")
        parser.add_argument("--check", metavar="FILE", help="check the sessions of a run file instead of creating")
        parser.add_argument("--expected-people", type=int, default=None,
                            help="with --check: how many distinct residents the burst sent")

    def handle(self, *args, **options):
        if options["check"]:
            return self.check_run(Path(options["check"]), options["expected_people"])
        if options["sessions"] < 1 or options["capacity"] < 1:
            raise CommandError("--sessions and --capacity must be at least 1.")
        run = prepare(sessions=options["sessions"], capacity=options["capacity"],
                      starts_in_days=options["starts_in_days"])
        text = json.dumps(run, ensure_ascii=False, indent=1)
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
            self.stderr.write(f"{len(run['sessions'])} sessions of {run['capacity']} seats on {run['course_url']} "
                              f"(run {run['run']}) -> {options['output']}")
        else:
            self.stdout.write(text)

    def check_run(self, path: Path, expected_people: int | None):
        run = json.loads(path.read_text(encoding="utf-8"))
        ids = [s["id"] for s in run["sessions"]]
        result = check_burst(ids, name_prefix=run.get("name_prefix"), expected_people=expected_people)
        for s in result.sessions:
            self.stdout.write(f"session {s.session_id}: capacity {s.capacity}, seated {s.seated}, "
                              f"waitlisted {s.waitlisted}, people {s.people}")
        self.stdout.write(f"total: seated {result.seated}, waitlisted {result.waitlisted}, people {result.people}, "
                          f"duplicate registrations {result.duplicates}, duplicate participants "
                          f"{result.duplicate_people}, waiting-list gaps {result.waitlist_gaps}")
        for problem in result.problems:
            self.stdout.write(f"PROBLEM: {problem}")
        if result.integrity_ok:
            self.stdout.write("INTEGRITY OK: every session has exactly min(capacity, people) seated; no duplicates.")
        if result.incomplete:
            self.stdout.write(f"INCOMPLETE: {result.incomplete}")
        elif expected_people is not None:
            self.stdout.write(f"COMPLETE: all {expected_people} residents registered (seated or waiting list).")
        if not result.ok:
            sys.exit(1)
