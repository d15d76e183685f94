"""Support-desk consultations (デジタル相談): recording one at the desk, changing one, importing a spreadsheet of
them, and the listings the admin shows.

A consultation holds no personal data by design (an age band, a ward, topics, an outcome), so the audit log records
the entry itself. One rule set (`consultation_errors`) checks a consultation wherever it comes from: the entry form,
the edit form and every row of an import.
"""

from dataclasses import dataclass
from datetime import date as Date
from datetime import datetime, time

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cms.audit import acting_user, log
from outreach.models import AGE_BAND_CHOICES, Consultation, ConsultationTopic
from partners.models import Ward

RECORDED = "outreach.consultation.recorded"
CHANGED = "outreach.consultation.changed"
IMPORTED = "outreach.consultation.imported"
EXPORTED = "outreach.consultation.exported"
LOG_ACTIONS = {RECORDED: gettext_lazy("Support-desk consultation recorded"),
               CHANGED: gettext_lazy("Support-desk consultation changed"),
               IMPORTED: gettext_lazy("Support-desk consultations imported"),
               EXPORTED: gettext_lazy("Support-desk consultations exported")}

IMPORT_KIND = "consultations"
MIN_DURATION, MAX_DURATION = 1, 600
AGE_BANDS = {code for code, _label in AGE_BAND_CHOICES}


# --- The rules ------------------------------------------------------------------------------------------------


RESIDENCES = (Consultation.Residence.CITY, Consultation.Residence.OUTSIDE, Consultation.Residence.DECLINED)


def consultation_errors(*, date: Date | None, place: str | None, place_ward: Ward | None, age_band: str | None,
                        residence_ward: Ward | None, residence: str | None, topics, outcome: str | None,
                        duration_minutes: int | None, today: Date | None = None) -> dict[str, list[str]]:
    """Every problem of a consultation, keyed by field name (empty when it may be saved). `residence` is required:
    city (with its `residence_ward`), outside the city, or declined ("not given", without a ward); an empty age
    band means "not given" (the callers ask for it explicitly)."""
    today = today or timezone.localdate()
    errors: dict[str, list[str]] = {}

    def add(field, message):
        errors.setdefault(field, []).append(str(message))

    if date is None:
        add("date", _("Give the date of the consultation."))
    elif date > today:
        add("date", _("The date %(date)s is in the future.") % {"date": date.isoformat()})
    if not place:
        add("place", _("Give the place of the consultation."))
    elif place not in Consultation.Place.values:
        add("place", _("“%(value)s” is not a place of consultation.") % {"value": place})
    if place_ward is None:
        add("place_ward", _("Give the ward where the consultation took place."))
    if age_band and age_band not in AGE_BANDS:
        add("age_band", _("“%(value)s” is not an age band.") % {"value": age_band})
    if residence not in RESIDENCES:
        add("residence", _("Give where the person lives: a ward, “Outside the city” or “Not given”."))
    elif (residence == Consultation.Residence.CITY) != (residence_ward is not None):
        add("residence", _("Give the ward of residence for a person from the city, and none otherwise."))
    if not list(topics or ()):
        add("topics", _("Give at least one topic."))
    if not outcome:
        add("outcome", _("Give the outcome."))
    elif outcome not in Consultation.Outcome.values:
        add("outcome", _("“%(value)s” is not an outcome.") % {"value": outcome})
    if duration_minutes is None:
        add("duration_minutes", _("Give the length in minutes."))
    elif not MIN_DURATION <= duration_minutes <= MAX_DURATION:
        add("duration_minutes", _("The length must be between %(min)d and %(max)d minutes.")
            % {"min": MIN_DURATION, "max": MAX_DURATION})
    return errors


def _check(**fields) -> None:
    errors = consultation_errors(**fields)
    if errors:
        raise ValidationError(errors)


def _log_data(consultation: Consultation, topics) -> dict:
    return {"date": consultation.date.isoformat(), "place": consultation.place,
            "place_ward": consultation.place_ward_id, "age_band": consultation.age_band,
            "residence_ward": consultation.residence_ward_id, "residence": consultation.residence,
            "topics": sorted(topic.pk for topic in topics),
            "outcome": consultation.outcome, "duration_minutes": consultation.duration_minutes}


# --- Recording and changing -------------------------------------------------------------------------------------


def record_consultation(*, date: Date, place: str, place_ward: Ward, age_band: str, residence_ward: Ward | None,
                        residence: str, topics, outcome: str, duration_minutes: int, actor) -> Consultation:
    """Save one consultation as recorded at the desk, with its topics, and log it. Raises ValidationError (keyed
    by field) when it breaks a rule of `consultation_errors`."""
    topics = list(topics)
    _check(date=date, place=place, place_ward=place_ward, age_band=age_band, residence_ward=residence_ward,
           residence=residence, topics=topics, outcome=outcome, duration_minutes=duration_minutes)
    with transaction.atomic():
        consultation = Consultation.objects.create(
            date=date, place=place, place_ward=place_ward, age_band=age_band or "", residence_ward=residence_ward,
            residence=residence, outcome=outcome, duration_minutes=duration_minutes, recorded_by=acting_user(actor))
        consultation.topics.set(topics)
        log(consultation, RECORDED, user=acting_user(actor), data=_log_data(consultation, topics))
    return consultation


def update_consultation(*, consultation: Consultation, date: Date, place: str, place_ward: Ward, age_band: str,
                        residence_ward: Ward | None, residence: str, topics, outcome: str, duration_minutes: int,
                        actor) -> Consultation:
    """Correct a recorded consultation (same rules as recording it); logs what it was changed to."""
    topics = list(topics)
    _check(date=date, place=place, place_ward=place_ward, age_band=age_band, residence_ward=residence_ward,
           residence=residence, topics=topics, outcome=outcome, duration_minutes=duration_minutes)
    with transaction.atomic():
        locked = Consultation.objects.select_for_update().get(pk=consultation.pk)
        locked.date, locked.place, locked.place_ward = date, place, place_ward
        locked.age_band, locked.residence_ward, locked.residence = age_band or "", residence_ward, residence
        locked.outcome, locked.duration_minutes = outcome, duration_minutes
        locked.save()
        locked.topics.set(topics)
        log(locked, CHANGED, user=acting_user(actor), data=_log_data(locked, topics))
    return locked


# --- Defaults and listings --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsualPlace:
    place: str
    place_ward: Ward | None


def usual_place(user) -> UsualPlace:
    """Where `user` usually works: the place and ward of the consultation they recorded last. The first time,
    nothing: the place feeds the figures, so it is chosen, never guessed (no first ward by default)."""
    last = (Consultation.objects.filter(recorded_by=user).select_related("place_ward")
            .order_by("-created_at", "-pk").first()) if getattr(user, "pk", None) else None
    if last is not None:
        return UsualPlace(last.place, last.place_ward)
    return UsualPlace("", None)


def with_details(queryset: QuerySet) -> QuerySet:
    """What a listing shows of each consultation, in a fixed number of queries."""
    return queryset.select_related("place_ward", "residence_ward", "recorded_by").prefetch_related(
        Prefetch("topics", queryset=ConsultationTopic.objects.order_by("sort_order", "name")))


def recorded_today(user, *, now: datetime | None = None) -> QuerySet:
    """The consultations `user` recorded today (whatever date they were for), latest first."""
    now = now or timezone.now()
    start = datetime.combine(timezone.localdate(now), time.min, tzinfo=timezone.get_current_timezone())
    return with_details(Consultation.objects.filter(recorded_by=user, created_at__gte=start)
                        .order_by("-created_at", "-pk"))


@dataclass
class ConsultationFilters:
    date_from: Date | None = None
    date_to: Date | None = None
    place_ward: Ward | None = None
    residence_ward: Ward | None = None
    residence: str = ""  # outside / declined / city (any ward); a ward filter is residence_ward
    place: str = ""
    outcome: str = ""
    topic: ConsultationTopic | None = None


def filter_consultations(filters: ConsultationFilters) -> QuerySet:
    queryset = Consultation.objects.all()
    if filters.date_from:
        queryset = queryset.filter(date__gte=filters.date_from)
    if filters.date_to:
        queryset = queryset.filter(date__lte=filters.date_to)
    if filters.place_ward:
        queryset = queryset.filter(place_ward=filters.place_ward)
    if filters.residence_ward:
        queryset = queryset.filter(residence_ward=filters.residence_ward)
    if filters.residence:
        queryset = queryset.filter(residence=filters.residence)
    if filters.place:
        queryset = queryset.filter(place=filters.place)
    if filters.outcome:
        queryset = queryset.filter(outcome=filters.outcome)
    if filters.topic:
        queryset = queryset.filter(topics=filters.topic)
    return with_details(queryset.order_by("-date", "-created_at", "-pk"))
