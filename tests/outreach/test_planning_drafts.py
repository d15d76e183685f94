"""Who could hold each row of a plan (outreach.planning_drafts): the course, venue and partner suggested for a
ward × topic from the sessions held, their fallbacks, inactive partners and cancelled sessions left out, a fixed
number of queries, and the suggestions on the plan page and in its exports. The small world of test_planning."""

import csv
import io
from datetime import timedelta

import pytest
from django.db.models import Max

from courses.models import Session, Topic
from outreach import planning_drafts
from partners.models import Ward
from tests import factories
from tests.outreach import test_planning
from tests.outreach.test_planning import PAGE, staff

world, analyst = test_planning.world, test_planning.analyst  # the fixtures of the small world

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def course_of(world):
    return world["sessions"][0].course


def test_suggestions_from_the_sessions_held(world, django_assert_num_queries):
    first, second, topic, other = world["first"], world["second"], world["topic"], world["other_topic"]
    one, _two, three = world["sessions"]
    with django_assert_num_queries(7):  # courses (and their view restrictions), history, venues, partners
        found = planning_drafts.suggestions([(first.pk, topic.pk), (second.pk, topic.pk), (first.pk, other.pk)])
    assert found[(first.pk, topic.pk)] == planning_drafts.Suggestion(course_of(world), one.venue, world["partner"])
    # The second ward's venue is the city's: the partner that held the class there is the one to ask.
    assert found[(second.pk, topic.pk)] == planning_drafts.Suggestion(course_of(world), three.venue, world["partner"])
    # No course on the other topic; the ward's most used venue and its partner all the same.
    assert found[(first.pk, other.pk)] == planning_drafts.Suggestion(None, one.venue, world["partner"])


def test_the_most_used_wins_and_ties_go_to_the_lowest_id(world):
    first, topic = world["first"], world["topic"]
    busy = factories.partner(name="NPO法人いそがし", name_en="Busy NPO")
    new_venue = factories.venue(ward=first, partner=busy, capacity=50)
    course = factories.course(owner=busy)
    course.topics.add(topic)
    course.save_revision().publish()
    for _n in range(3):  # three sessions of the new course at the new venue, by the new partner: the most
        factories.session(course_page=course, organiser=busy, venue=new_venue, starts_in=-timedelta(days=2))
    found = planning_drafts.suggestions([(first.pk, topic.pk)])[(first.pk, topic.pk)]
    assert (found.course, found.venue, found.partner) == (course, new_venue, busy)
    # Cancelled sessions do not count: cancel them and the first ward's own history wins again.
    Session.objects.filter(course=course).update(status=Session.Status.CANCELLED, cancellation_reason="雨")
    found = planning_drafts.suggestions([(first.pk, topic.pk)])[(first.pk, topic.pk)]
    assert (found.course, found.venue, found.partner) == (course_of(world), world["sessions"][0].venue,
                                                           world["partner"])


def test_fallbacks_where_nothing_was_held(world):
    """A ward with no venue and no history: the course held most in the city, no venue, no partner. A ward with a
    venue but no history: its largest room and the venue's owner."""
    topic = world["topic"]
    bare, with_room = list(Ward.objects.exclude(pk__in=[world["first"].pk, world["second"].pk])
                           .order_by("sort_order", "code")[:2])
    owner = factories.partner(name="NPO法人へや", name_en="Room NPO")
    small = factories.venue(ward=with_room, partner=None, capacity=10)
    large = factories.venue(ward=with_room, partner=owner, capacity=40)
    found = planning_drafts.suggestions([(bare.pk, topic.pk), (with_room.pk, topic.pk)])
    assert found[(bare.pk, topic.pk)] == planning_drafts.Suggestion(course_of(world), None, None)
    assert found[(with_room.pk, topic.pk)] == planning_drafts.Suggestion(course_of(world), large, owner)
    assert small != large
    # An inactive partner is never suggested.
    owner.is_active = False
    owner.save()
    assert planning_drafts.suggestions([(with_room.pk, topic.pk)])[(with_room.pk, topic.pk)].partner is None


def test_an_unpublished_course_or_an_unknown_id_is_never_suggested(world):
    first, topic = world["first"], world["topic"]
    course_of(world).unpublish()
    assert planning_drafts.suggestions([(first.pk, topic.pk)])[(first.pk, topic.pk)].course is None
    missing = (Ward.objects.aggregate(n=Max("pk"))["n"] + 1, Topic.objects.aggregate(n=Max("pk"))["n"] + 1)
    assert planning_drafts.suggestions([missing]) == {missing: planning_drafts.Suggestion(None, None, None)}
    assert planning_drafts.suggestions([]) == {}


def test_the_page_and_the_exports_name_who_could_hold_each_row(client, world, analyst, settings):
    settings.DEKIRU_PLANNING_MIN_HISTORY = 5
    client.force_login(analyst)
    query = "?sessions=1&months=1&seats=10&venue_sessions=2&partner_sessions=4&instructors=3"
    html = client.get(PAGE + query).content.decode()
    assert "Who could hold it" in html
    row = html.split('id="plan-table"')[1].split("</tbody>")[0]
    assert "Venue: 第一市民館" in row and "Partner: Plan NPO" in row and "Course: –" in row
    lines = list(csv.reader(io.StringIO(client.get("/admin/outreach/planning/plan.csv" + query)
                                        .content.decode("utf-8-sig"))))
    assert lines[0][-3:] == ["Suggested course", "Suggested venue", "Partner to ask"]
    assert lines[1][-3:] == ["", "第一市民館", "Plan NPO"]


def test_the_page_in_japanese(client, world, settings):
    settings.DEKIRU_PLANNING_MIN_HISTORY = 5
    client.force_login(staff("officer-ja", "City programme officer", language="ja"))
    html = client.get(PAGE + "?sessions=1&venue_sessions=2&partner_sessions=4&instructors=3").content.decode()
    row = html.split('id="plan-table"')[1].split("</tbody>")[0]
    assert "会場: 第一市民館" in row and "協力団体: NPO法人プラン" in row
    assert "Who could hold it" not in html
