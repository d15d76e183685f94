"""`manage.py bench_seed`: a large synthetic programme for measuring the outreach metrics (benchmarks.bench_outreach).

At `--scale 1`: 50,000 sessions over three fiscal years (the two before today's and today's, so the current one has
both classes held and classes to come), 100,000 participants, 1,000,000 registrations (mostly attended; some
no-shows, cancellations, walk-ins and waiting lists never promoted), ~30,000 consultations, ~60,000 self-assessments
with their scores, and the reference data the dashboard reads (population per ward and age band for each year,
national internet usage rates, KPI targets). `--scale 0.01` gives a hundredth of the rows (tests use ~0.001).

Rows are written as an import would: straight into the tables, without services, audit log or e-mails. On
PostgreSQL with COPY (100,000 registrations in 1.0 s, against 6.1 s with `bulk_create`), elsewhere with batched
INSERTs (SQLite: 2.6 s against 9.2 s); then the tables are analysed so the planner knows their size.

It refuses to run on a database that already has sessions: its figures would mix with real (or demo) ones.
`--force` seeds anyway, adding to what is there; it never deletes anything. Partners, venues, topics and courses
it creates are found again by name on a second run. Same `--seed` and `--today`, same data.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, models, transaction
from django.db.models.functions import Mod
from django.utils import timezone

from courses.models import CoursePage, Participant, Registration, Session, Topic
from courses.page_access import course_group_for
from courses.references import new_references
from outreach.metrics import fiscal_year_bounds, fiscal_year_of, local_midnight, municipal_today
from outreach.models import (
    Consultation,
    ConsultationTopic,
    InternetUsageRate,
    KpiTarget,
    PopulationFigure,
    SelfAssessment,
    SkillItem,
    SkillScore,
)
from partners.models import Partner, Venue, Ward
from partners.services import create_partner
from provision.services import ensure_site

SESSIONS = 50_000
PARTICIPANTS = 100_000
REGISTRATIONS = 1_000_000
CONSULTATIONS = 30_000
BATCH = 5_000
PREFIX = "ベンチ"  # names of everything this command creates start with it

TOPICS = [
    ("power-buttons", "電源とボタン", "Power and buttons"), ("calls-camera", "電話とカメラ", "Calls and camera"),
    ("internet", "インターネット", "The internet"), ("maps", "地図アプリ", "Maps"),
    ("line", "LINE・メッセージ", "LINE and messaging"), ("my-number", "マイナンバーカード", "My Number Card"),
    ("mynaportal", "マイナポータル・健康保険証", "Mynaportal and health-insurance card"), ("e-tax", "e-Tax", "e-Tax"),
    ("online-medical", "オンライン診療", "Online medical appointments"),
    ("cashless", "キャッシュレス決済", "Cashless payment"), ("scams", "詐欺対策", "Avoiding scams"),
]
# Participants' age bands, weighted towards the older residents the programme is for; "" = not given.
BAND_WEIGHTS = {"u20": 1, "20-29": 1, "30-39": 2, "40-49": 3, "50-59": 5, "60-64": 7, "65-69": 14, "70-74": 20,
                "75-79": 20, "80-84": 14, "85+": 8, "": 5}
# Residents of a ward per age band (per mille of the ward), Kawasaki-like: 20% aged 65 and over.
POPULATION_SHARE = {"u20": 170, "20-29": 130, "30-39": 140, "40-49": 160, "50-59": 140, "60-64": 60, "65-69": 50,
                    "70-74": 55, "75-79": 45, "80-84": 30, "85+": 20}
WARD_POPULATION = 220_000
# National communications usage survey (PRODUCT.md), per year and survey band.
USAGE_RATES = {
    2021: {"13-19": 98.0, "20-29": 98.4, "30-39": 97.8, "40-49": 97.4, "50-59": 95.2, "60-69": 84.4, "70-79": 59.4,
           "80+": 27.6, "all": 82.9},
    2022: {"13-19": 98.1, "20-29": 98.5, "30-39": 98.0, "40-49": 97.7, "50-59": 95.8, "60-69": 86.8, "70-79": 63.2,
           "80+": 30.3, "all": 84.9},
    2023: {"13-19": 98.3, "20-29": 98.6, "30-39": 98.2, "40-49": 97.9, "50-59": 96.5, "60-69": 90.2, "70-79": 67.0,
           "80+": 36.4, "all": 86.2},
}
KPI_TARGETS = {"participants_65_plus": 18_000, "unique_participants": 30_000, "attendances": 300_000,
               "sessions_held": 16_000, "consultations": 10_000, "foundation_on_my_own": 70}


class Command(BaseCommand):
    help = "Seed a large synthetic programme for the outreach benchmarks (refuses a database with sessions)."

    def add_arguments(self, parser):
        parser.add_argument("--scale", type=float, default=1.0,
                            help="Fraction of the full size (50,000 sessions, 1,000,000 registrations).")
        parser.add_argument("--seed", type=int, default=2025, help="Random seed (same seed, same data).")
        parser.add_argument("--today", type=dt.date.fromisoformat, default=None,
                            help="The day the data is built around (YYYY-MM-DD); default: today.")
        parser.add_argument("--force", action="store_true",
                            help="Seed even though the database already has sessions (adds; deletes nothing).")

    def handle(self, *args, scale: float, seed: int, today: dt.date | None, force: bool, **options):
        if scale <= 0:
            raise CommandError("--scale must be positive.")
        if Session.objects.exists() and not force:
            raise CommandError("This database already has sessions: the synthetic rows would mix with them. "
                               "Use an empty database, or --force to add them anyway.")
        started = time.perf_counter()
        counts = seed_programme(scale=scale, seed=seed, today=today or municipal_today(),
                                log=lambda text: self.stdout.write(text) if options["verbosity"] > 1 else None)
        elapsed = time.perf_counter() - started
        self.stdout.write(", ".join(f"{count:,} {name}" for name, count in counts.items())
                          + f" in {elapsed:.1f} s ({connection.vendor})")


# --- Writing rows fast --------------------------------------------------------------------------------------------

def insert_rows(model: type[models.Model], rows: Iterable[dict]) -> int:
    """Insert `rows` (dicts by attname; missing fields take their default, timestamps now) into `model`'s table:
    COPY on PostgreSQL, batched INSERTs elsewhere. No save(), no signals. Returns the number of rows.
    `rows` must not query the database while it is consumed (the connection is busy with COPY)."""
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    columns = [field.column for field in fields]
    now = timezone.now()
    postgres = connection.vendor == "postgresql"
    adapt_datetime = (lambda value: value) if postgres else connection.ops.adapt_datetimefield_value
    fillers = []
    for field in fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            fillers.append(lambda now=now: now)
        elif callable(field.default) and field.has_default():
            fillers.append(field.default)
        else:
            constant = field.get_default()
            fillers.append(lambda value=constant: value)
    datetimes = [isinstance(field, models.DateTimeField) for field in fields]

    def tuples() -> Iterator[tuple]:
        for row in rows:
            values = []
            for field, filler, is_datetime in zip(fields, fillers, datetimes, strict=True):
                value = row[field.attname] if field.attname in row else filler()
                values.append(adapt_datetime(value) if is_datetime and value is not None else value)
            yield tuple(values)

    table = connection.ops.quote_name(model._meta.db_table)
    quoted = ", ".join(connection.ops.quote_name(column) for column in columns)
    written = 0
    with connection.cursor() as cursor:
        if postgres:
            with cursor.cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
                for values in tuples():
                    copy.write_row(values)
                    written += 1
            return written
        sql = f"INSERT INTO {table} ({quoted}) VALUES ({', '.join(['%s'] * len(columns))})"
        iterator = tuples()
        while batch := list(itertools.islice(iterator, BATCH)):
            cursor.executemany(sql, batch)
            written += len(batch)
    return written


def _max_pk(model) -> int:
    return model.objects.aggregate(top=models.Max("pk"))["top"] or 0


def _local(day: dt.date, hour: int, minute: int) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)), timezone.get_default_timezone())


# --- The programme ----------------------------------------------------------------------------------------------

def seed_programme(*, scale: float, seed: int, today: dt.date, log=lambda text: None) -> dict[str, int]:
    rng = random.Random(seed)
    first_year = fiscal_year_of(today) - 2
    start, _next = fiscal_year_bounds(first_year)
    _first, end = fiscal_year_bounds(fiscal_year_of(today))
    # Sessions that ended by `now` are held (attended, no-shows); later ones still take bookings.
    now = timezone.now() if today == municipal_today() else local_midnight(today) + dt.timedelta(hours=12)
    clock = time.perf_counter()

    def done(what: str) -> None:
        nonlocal clock
        log(f"{what} ({time.perf_counter() - clock:.1f} s)")
        clock = time.perf_counter()

    with transaction.atomic():
        wards, partners, courses, venues = _structure(rng, scale)
        done(f"{len(partners)} partners, {len(courses)} courses, {len(venues)} venues")
        session_rows = _sessions(rng, round(SESSIONS * scale), courses, venues, start, end)
        done(f"{len(session_rows):,} sessions")
        participant_rows = _participants(rng, round(PARTICIPANTS * scale), wards)
        done(f"{len(participant_rows):,} participants")
        registrations_before = _max_pk(Registration)
        registration_count = _registrations(rng, round(REGISTRATIONS * scale), session_rows, participant_rows, now)
        done(f"{registration_count:,} registrations")
        assessments, scores = _self_assessments(rng, courses, registrations_before)
        done(f"{assessments:,} self-assessments, {scores:,} scores")
        consultation_count = _consultations(rng, round(CONSULTATIONS * scale), wards, start, min(today, end))
        _reference_data(wards, first_year, fiscal_year_of(today))
        done(f"{consultation_count:,} consultations, reference data")
    if connection.vendor == "postgresql":
        # The planner must know the tables' new size; VACUUM (visibility map, for index-only scans) cannot run
        # inside a transaction (a test's), ANALYZE can.
        command = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
        with connection.cursor() as cursor:
            for model in (Session, Participant, Registration, SelfAssessment, SkillScore, Consultation,
                          Consultation.topics.through):
                cursor.execute(f"{command} {connection.ops.quote_name(model._meta.db_table)}")
        done(command.lower())
    return {"sessions": len(session_rows), "participants": len(participant_rows),
            "registrations": registration_count, "self-assessments": assessments, "skill scores": scores,
            "consultations": consultation_count}


def _structure(rng: random.Random, scale: float):
    """Partners, their courses (with topics and can-do items) and venues in every ward."""
    ensure_site()
    wards = list(Ward.objects.order_by("sort_order", "code"))
    topics = []
    for slug, name, name_en in TOPICS:
        topic = Topic.objects.filter(slug=f"bench-{slug}").first()
        topics.append(topic or Topic.objects.create(slug=f"bench-{slug}", name=f"{PREFIX}{name}", name_en=name_en))
    items = list(SkillItem.objects.order_by("number"))
    foundation = [item for item in items if item.group == SkillItem.Group.FOUNDATION]
    kinds = [Partner.Kind.NPO, Partner.Kind.NPO, Partner.Kind.ICT_COMPANY, Partner.Kind.CARRIER_SHOP,
             Partner.Kind.COMMUNITY_ASSOCIATION, Partner.Kind.WARD_OFFICE]
    partner_count = 24 if scale >= 0.05 else 3
    courses_per_partner = 3 if scale >= 0.05 else 2
    partners, courses = [], []
    for number in range(1, partner_count + 1):
        name = f"{PREFIX}協力団体{number:02d}"
        partner = (Partner.objects.filter(name=name).first()
                   or create_partner(name=name, name_en=f"Bench partner {number}", kind=kinds[number % len(kinds)]))
        partners.append(partner)
        group = course_group_for(partner)
        for course_number in range(1, courses_per_partner + 1):
            slug = f"bench-{number}-{course_number}"
            course = CoursePage.objects.filter(slug=slug).first()
            if course is None:
                course = CoursePage(title=f"{PREFIX}講座{number}-{course_number}", slug=slug, title_kana="ベンチコウザ",
                                    summary="ベンチマーク用の講座", live=True)
                group.add_child(instance=course)
                course.topics.set(rng.sample(topics, rng.choice([1, 1, 2, 3])))
                course.skills.set(sorted({*rng.sample(foundation, 2), *rng.sample(items, 3)}, key=lambda i: i.number))
                course.save()
            course.organiser = partner
            courses.append(course)
    venues = list(Venue.objects.filter(name__startswith=PREFIX).select_related("ward"))
    if not venues:
        Venue.objects.bulk_create(
            Venue(name=f"{PREFIX}会場{ward.code}-{n}", ward=ward, address="川崎市", capacity=30,
                  partner=partners[(i * 3 + n) % len(partners)] if n else None)
            for i, ward in enumerate(wards) for n in range(5))
        venues = list(Venue.objects.filter(name__startswith=PREFIX).select_related("ward"))
    return wards, partners, courses, venues


def _sessions(rng, total, courses, venues, start: dt.date, end: dt.date) -> list[tuple]:
    """Sessions spread over the fiscal years, in the order they happen. Returns (pk, course, ward_id, starts_at,
    ends_at, capacity, cancelled) per session."""
    days = (end - start).days
    times = [(10, 0), (13, 30), (15, 30), (18, 30)]
    planned = []
    for _n in range(total):
        day = start + dt.timedelta(days=rng.randrange(days))
        starts_at = _local(day, *rng.choice(times))
        planned.append((starts_at, rng.choice(courses), rng.choice(venues)))
    planned.sort(key=lambda row: row[0])
    before = _max_pk(Session)

    def rows():
        for starts_at, course, venue in planned:
            cancelled = rng.random() < 0.03
            yield {"course_id": course.pk, "organiser_id": course.organiser.pk, "venue_id": venue.pk,
                   "starts_at": starts_at, "ends_at": starts_at + dt.timedelta(minutes=rng.choice([90, 120])),
                   "capacity": rng.choice([12, 16, 20, 24, 30]),
                   "status": Session.Status.CANCELLED if cancelled else Session.Status.SCHEDULED,
                   "cancellation_reason": "講師の体調不良のため" if cancelled else "",
                   "created_at": starts_at - dt.timedelta(days=30), "updated_at": starts_at - dt.timedelta(days=30)}

    insert_rows(Session, rows())
    courses_by_pk = {course.pk: course for course in courses}
    return [(pk, courses_by_pk[course_id], ward_id, starts_at, ends_at, capacity, status == Session.Status.CANCELLED)
            for pk, course_id, ward_id, starts_at, ends_at, capacity, status in
            Session.objects.filter(pk__gt=before).order_by("pk").values_list(
                "pk", "course_id", "venue__ward_id", "starts_at", "ends_at", "capacity", "status")]


def _participants(rng, total, wards) -> list[tuple[int, int | None]]:
    """Participants with an age band and (mostly) a ward. Returns (pk, ward_id) per participant."""
    bands, weights = zip(*BAND_WEIGHTS.items(), strict=True)
    devices = [choice for choice, _label in Participant.Device.choices]
    before = _max_pk(Participant)
    insert_rows(Participant, ({"age_band": band, "ward_id": rng.choice(wards).pk if rng.random() < 0.97 else None,
                               "device": rng.choice(devices)}
                              for band in rng.choices(bands, weights, k=total)))
    return list(Participant.objects.filter(pk__gt=before).order_by("pk").values_list("pk", "ward_id"))


def _registrations(rng, total, sessions, participants, now) -> int:
    """Each session gets registrations from people living mostly in the venue's ward; statuses as they would be
    now: held sessions mostly attended (some no-shows, cancellations, waiting lists never promoted, walk-ins),
    sessions to come confirmed or waiting, cancelled sessions all cancelled."""
    Status, Channel, BookedBy = Registration.Status, Registration.Channel, Registration.BookedBy
    by_ward = defaultdict(list)
    for pk, ward_id in participants:
        by_ward[ward_id].append(pk)
    everyone = [pk for pk, _ward in participants]
    sizes = _sizes(rng, total, len(sessions), len(everyone))
    # Booking references must be unique: drawn here against those stored (rows() may not query during COPY).
    references = iter(new_references(sum(sizes), taken=set(Registration.objects.values_list("reference", flat=True))))

    def rows():
        for (session_id, _course, ward_id, starts_at, ends_at, _capacity, cancelled), size in zip(
                sessions, sizes, strict=True):
            local = by_ward.get(ward_id) or everyone
            chosen = set(rng.sample(local, min(len(local), round(size * 0.8))))
            while len(chosen) < size:
                chosen.add(rng.choice(everyone))
            held = not cancelled and ends_at <= now
            waiting = 0
            for participant_id in chosen:
                channel = Channel.WEB if rng.random() < 0.62 else Channel.PHONE
                draw = rng.random()
                if cancelled:
                    status = Status.CANCELLED
                elif held:
                    status = (Status.ATTENDED if draw < 0.76 else Status.NO_SHOW if draw < 0.83
                              else Status.CANCELLED if draw < 0.90 else Status.WAITLISTED if draw < 0.94
                              else Status.CONFIRMED if draw < 0.95 else None)
                    if status is None:
                        status, channel = Status.ATTENDED, Channel.WALK_IN
                else:
                    status = (Status.CONFIRMED if draw < 0.85 else Status.CANCELLED if draw < 0.92
                              else Status.WAITLISTED)
                if status == Status.WAITLISTED:
                    waiting += 1
                created_at = starts_at - dt.timedelta(days=rng.randrange(1, 30), minutes=rng.randrange(600))
                yield {"session_id": session_id, "participant_id": participant_id, "status": status,
                       "channel": channel, "reference": next(references),
                       "booked_by": BookedBy.SELF if rng.random() < 0.8 else BookedBy.FAMILY,
                       "waitlist_position": waiting if status == Status.WAITLISTED else None,
                       "created_at": created_at, "updated_at": created_at,
                       "confirmed_at": created_at if status in Registration.SEATED else None,
                       "cancelled_at": starts_at - dt.timedelta(days=1) if status == Status.CANCELLED else None}

    return insert_rows(Registration, rows())


def _sizes(rng, total: int, sessions: int, people: int) -> list[int]:
    """Registrations per session: about total / sessions each, varying, adding up to exactly `total`."""
    if not sessions:
        return []
    mean = total / sessions
    sizes = [min(max(1, round(rng.gauss(mean, mean / 4))), people) for _n in range(sessions)]
    difference = total - sum(sizes)
    step = 1 if difference > 0 else -1
    while difference:
        n = rng.randrange(sessions)
        if 1 <= sizes[n] + step <= people:
            sizes[n] += step
            difference -= step
    return sizes


def _self_assessments(rng, courses, registrations_before: int) -> tuple[int, int]:
    """Before/after can-do checks for about one attendance in twelve (some only before, some only after), answering
    the items the course teaches."""
    Kind = SelfAssessment.Kind
    items_of = {course.pk: [item.pk for item in course.skills.all()] for course in courses}
    attended = (Registration.objects.filter(pk__gt=registrations_before, status=Registration.Status.ATTENDED,
                                            session__course_id__in=items_of)
                .annotate(m=Mod("pk", 12)).filter(m=0).values_list("pk", "session__course_id", "session__ends_at"))
    before = _max_pk(SelfAssessment)
    assessed: list[tuple[int, int]] = []
    rows = []
    for registration_id, course_id, ends_at in attended.iterator(chunk_size=BATCH):
        kinds = rng.choices([(Kind.PRE, Kind.POST), (Kind.PRE,), (Kind.POST,)], [85, 10, 5])[0]
        for kind in kinds:
            submitted = ends_at - dt.timedelta(hours=2) if kind == Kind.PRE else ends_at + dt.timedelta(days=1)
            rows.append({"registration_id": registration_id, "kind": kind, "source": SelfAssessment.Source.TABLET,
                         "submitted_at": submitted})
            assessed.append((registration_id, course_id))
    count = insert_rows(SelfAssessment, rows)
    ids = {(registration_id, kind): pk for pk, registration_id, kind in SelfAssessment.objects.filter(
        pk__gt=before).values_list("pk", "registration_id", "kind")}

    def scores():
        for registration_id, course_id in dict.fromkeys(assessed):
            pre_id, post_id = ids.get((registration_id, Kind.PRE)), ids.get((registration_id, Kind.POST))
            for item_id in items_of[course_id]:
                pre = rng.choices([0, 1, 2, 3], [30, 40, 22, 8])[0]
                post = min(3, pre + rng.choices([0, 1, 2], [35, 50, 15])[0])
                if pre_id:
                    yield {"assessment_id": pre_id, "item_id": item_id, "score": pre}
                if post_id and rng.random() < 0.97:  # a few answers left blank
                    yield {"assessment_id": post_id, "item_id": item_id, "score": post}

    return count, insert_rows(SkillScore, scores())


def _consultations(rng, total, wards, start: dt.date, last: dt.date) -> int:
    Place, Outcome, Residence = Consultation.Place, Consultation.Outcome, Participant.Residence
    topics = list(ConsultationTopic.objects.values_list("pk", flat=True))
    bands = [band for band in BAND_WEIGHTS if band]
    before = _max_pk(Consultation)
    days = max((last - start).days, 1)

    def rows():
        for _n in range(total):
            ward = rng.choice(wards)
            day = start + dt.timedelta(days=rng.randrange(days))
            place = rng.choice(Place.values)
            age_band = rng.choices([*bands, ""], [1, 1, 1, 2, 3, 4, 10, 14, 14, 10, 6, 3])[0]
            residence_ward = (ward if rng.random() < 0.85 else rng.choice(wards)).pk if rng.random() < 0.95 else None
            # Without a ward: outside the city or not given (two answers of their own).
            residence = Residence.CITY if residence_ward else rng.choice([Residence.OUTSIDE, Residence.DECLINED])
            yield {"date": day, "place": place, "place_ward_id": ward.pk,
                   "age_band": age_band, "residence_ward_id": residence_ward, "residence": residence.value,
                   "outcome": rng.choices(Outcome.values, [70, 20, 10])[0],
                   "duration_minutes": rng.choice([10, 15, 20, 30, 45]),
                   "created_at": _local(day, 12, 0)}

    count = insert_rows(Consultation, rows())
    if topics:
        # A list, not a server-side cursor: no other query may run on the connection while COPY is writing.
        created = list(Consultation.objects.filter(pk__gt=before).values_list("pk", flat=True))
        insert_rows(Consultation.topics.through, (
            {"consultation_id": pk, "consultationtopic_id": topic}
            for pk in created for topic in rng.sample(topics, rng.choice([1, 1, 1, 2]))))
    return count


def _reference_data(wards, first_year: int, last_year: int) -> None:
    """Population per ward and age band for each year, usage rates and KPI targets (kept where they exist)."""
    PopulationFigure.objects.bulk_create(
        [PopulationFigure(year=year, ward=ward, age_band=band,
                          population=WARD_POPULATION * share // 1000 + 37 * index + 11 * (year - first_year))
         for year in range(first_year, last_year + 1) for index, ward in enumerate(wards)
         for band, share in POPULATION_SHARE.items()], ignore_conflicts=True)
    InternetUsageRate.objects.bulk_create(
        [InternetUsageRate(year=year, age_band=band, rate=Decimal(str(value)))
         for year, rates in USAGE_RATES.items() for band, value in rates.items()], ignore_conflicts=True)
    KpiTarget.objects.bulk_create(
        [KpiTarget(fiscal_year=year, metric=metric, target=Decimal(target))
         for year in range(first_year, last_year + 1) for metric, target in KPI_TARGETS.items()],
        ignore_conflicts=True)
