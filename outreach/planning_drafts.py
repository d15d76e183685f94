"""Who could hold each row of a plan (outreach.planning): for a ward × topic, the course, the venue and the partner
to ask. The plan page shows them beside each row and the plan's exports list them, so partners can be asked to
schedule it; they are also the defaults a "create draft sessions from the plan" step would offer.

That step itself is not here: a session cannot be created unpublished. `courses.models.Session` has only the states
scheduled and cancelled, and every session of a live course page is listed to residents (the class list, the
course page, the calendar feeds, the open-data event list) the moment it exists; the only existing way to keep a
session from residents is an unpublished course page, which would hide every other session of the course too. A
draft state on Session (a migration of courses, and every public query excluding it) is needed first.

The choices, each from the sessions already held (not cancelled), most sessions first, ties by the lowest id so the
same data gives the same suggestion:
- *Course*: a live, public course on the topic that has been held most in the ward; else the one held most in the
  city; else the first by title.
- *Venue*: of the ward's venues, the one used most for the topic; else the one used most in the ward; else the
  largest room.
- *Partner*: the one that has run most sessions at that venue on the topic, else at that venue, else the venue's
  owner (none for a city venue where no one has held a class yet). Only active partners.
At most seven queries for any number of rows (grouped in the database).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from django.db.models import Count

from courses.models import CoursePage, Session
from partners.models import Partner, Venue


@dataclass(frozen=True)
class Suggestion:
    course: CoursePage | None
    venue: Venue | None
    partner: Partner | None


def _best(counter: Counter):
    """The key with the most, ties by the lowest key (ids)."""
    return min(counter, key=lambda key: (-counter[key], key)) if counter else None


def suggestions(pairs) -> dict[tuple[int, int], Suggestion]:
    """The suggestion for each (ward id, topic id) of `pairs`."""
    pairs = sorted(set(pairs))
    if not pairs:
        return {}
    wards = {ward for ward, _topic in pairs}
    topics = {topic for _ward, topic in pairs}
    courses = list(CoursePage.objects.live().public().filter(topics__in=topics).order_by("title", "pk")
                   .values_list("pk", "topics"))
    course_ids = {pk for pk, _topic in courses}
    held = Session.objects.exclude(status=Session.Status.CANCELLED).order_by()
    # (ward, course, venue, organiser) → sessions held, for the wards of the plan.
    local = list(held.filter(venue__ward_id__in=wards).values_list("venue__ward_id", "course_id", "venue_id",
                                                                    "organiser_id").annotate(n=Count("pk")))
    city = dict(held.filter(course_id__in=course_ids).values_list("course_id").annotate(n=Count("pk")))
    venues = {venue.pk: venue for venue in Venue.objects.filter(ward_id__in=wards).select_related("partner")}
    partner_ids = {organiser for _w, _c, _v, organiser, _n in local}
    partner_ids |= {venue.partner_id for venue in venues.values() if venue.partner_id}
    course_objects = {page.pk: page for page in CoursePage.objects.filter(pk__in=course_ids)
                      .only("pk", "title", "title_en")}
    partners = {partner.pk: partner for partner in Partner.objects.filter(pk__in=partner_ids, is_active=True)}
    by_topic: dict[int, list[int]] = {}
    for pk, topic in courses:
        by_topic.setdefault(topic, []).append(pk)
    result = {}
    for ward, topic in pairs:
        candidates = by_topic.get(topic, [])
        course_id = (_best(Counter({c: n for w, c, _v, _o, n in local if w == ward and c in candidates}))
                     or _best(Counter({c: city[c] for c in candidates if c in city}))
                     or (candidates[0] if candidates else None))
        ward_venues = [pk for pk, venue in venues.items() if venue.ward_id == ward]
        on_topic = Counter()
        in_ward = Counter()
        for w, c, v, _o, n in local:
            if w == ward and v in venues:
                in_ward[v] += n
                if c in candidates:
                    on_topic[v] += n
        venue_id = (_best(on_topic) or _best(in_ward)
                    or min(ward_venues, key=lambda pk: (-venues[pk].capacity, pk), default=None))
        venue = venues.get(venue_id)
        runs_topic, runs_venue = Counter(), Counter()
        for w, c, v, organiser, n in local:
            if w == ward and v == venue_id and organiser in partners:
                runs_venue[organiser] += n
                if c in candidates:
                    runs_topic[organiser] += n
        partner_id = _best(runs_topic) or _best(runs_venue) or (venue.partner_id if venue else None)
        result[(ward, topic)] = Suggestion(course=course_objects.get(course_id), venue=venue,
                                           partner=partners.get(partner_id))
    return result
