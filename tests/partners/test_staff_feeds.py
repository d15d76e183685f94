"""Private calendar feeds for partner staff: their partner's sessions with seat counts, under a token they can
revoke and regenerate in the admin."""

from datetime import timedelta

import icalendar
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import signing
from django.core.cache import cache

from courses.models import Registration
from courses.tokens import registration_token
from partners.feeds import SALT, feed_token, get_or_create_feed, regenerate_feed, revoke_feed
from partners.models import PartnerMembership, StaffCalendarFeed
from partners.services import add_membership
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


def _staff(partner, *, role="instructor", username=None):
    user = get_user_model().objects.create_user(username or f"staff-{partner.pk}-{role}", password="pw")
    user.groups.add(Group.objects.get(name="Partner manager" if role == "manager" else "Partner instructor"))
    return user, add_membership(partner=partner, user=user, role=role)


def _events(response) -> dict[str, icalendar.Event]:
    return {str(e["uid"]): e for e in icalendar.Calendar.from_ical(response.content).walk("VEVENT")}


def _url(feed, prefix="") -> str:
    return f"{prefix}/calendar/staff/{feed_token(feed)}.ics"


def test_feed_has_only_the_partners_sessions_with_seat_counts(client, site):
    mine, other = factories.partner(), factories.partner()
    session = factories.session(organiser=mine, capacity=3)
    draft_course = factories.course(owner=mine)
    draft_course.unpublish()
    draft_session = factories.session(course_page=draft_course, organiser=mine)
    theirs = factories.session(organiser=other)
    over = factories.session(organiser=mine, starts_in=timedelta(days=-2))
    for _ in range(2):
        factories.registration(session_obj=session)
    factories.registration(session_obj=session, status=Registration.Status.WAITLISTED)
    factories.registration(session_obj=session, status=Registration.Status.CANCELLED)
    _user, membership = _staff(mine)
    feed = get_or_create_feed(membership=membership)

    response = client.get(_url(feed))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Cache-Control"] == "private, no-cache"
    assert "Last-Modified" not in response  # the counts change without the session changing
    events = _events(response)
    uid = f"session-{session.pk}@127.0.0.1"
    assert set(events) == {uid, f"session-{draft_session.pk}@127.0.0.1"}
    assert f"session-{theirs.pk}@127.0.0.1" not in events and f"session-{over.pk}@127.0.0.1" not in events
    assert "2/3" in str(events[uid]["summary"])
    assert "2 / 3" not in str(events[uid]["description"])
    english = _events(client.get(_url(feed, "/en")))[uid]
    assert "Seats: 2 of 3 booked. Waiting list: 1." in str(english["description"])
    # Nobody's name or contact is in a staff feed either.
    for registration in session.registrations.all():
        assert registration.participant.name.encode() not in response.content
        assert registration.participant.phone.encode() not in response.content


def test_counts_change_the_etag_and_the_body(client, site):
    partner = factories.partner()
    session = factories.session(organiser=partner, capacity=5)
    _user, membership = _staff(partner)
    feed = get_or_create_feed(membership=membership)
    first = client.get(_url(feed))
    assert client.get(_url(feed), headers={"if-none-match": first["ETag"]}).status_code == 304
    factories.registration(session_obj=session)
    changed = client.get(_url(feed), headers={"if-none-match": first["ETag"]})
    assert changed.status_code == 200
    assert "1/5" in str(_events(changed)[f"session-{session.pk}@127.0.0.1"]["summary"])
    # The public feed's cached fragment is not the staff one, and has no counts.
    public = client.get(f"/calendar/partners/{partner.pk}.ics")
    assert "1/5" not in str(_events(public)[f"session-{session.pk}@127.0.0.1"]["summary"])


def test_revoke_and_regenerate(client, site):
    partner = factories.partner()
    factories.session(organiser=partner)
    _user, membership = _staff(partner)
    feed = get_or_create_feed(membership=membership)
    old = _url(feed)
    assert client.get(old).status_code == 200
    regenerate_feed(feed=feed)
    assert client.get(old).status_code == 404
    new = _url(feed)
    assert client.get(new).status_code == 200
    revoke_feed(feed=feed)
    assert client.get(new).status_code == 404
    assert client.get(old).status_code == 404
    with pytest.raises(ValueError):
        feed_token(feed)
    regenerate_feed(feed=feed)
    assert client.get(_url(feed)).status_code == 200 and _url(feed) not in (old, new)


def test_bad_tokens_are_404(client, site):
    partner = factories.partner()
    session = factories.session(organiser=partner)
    user, membership = _staff(partner)
    feed = get_or_create_feed(membership=membership)
    token = feed_token(feed)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    wrong_key = signing.Signer(salt=SALT).sign_object([feed.pk, "guessed"])
    registration = factories.registration(session_obj=session)
    other_purpose = registration_token(registration)  # a valid signed value for another purpose
    for bad in (tampered, wrong_key, other_purpose, "x", "[1]"):
        assert client.get(f"/calendar/staff/{bad}.ics").status_code == 404, bad
    # The feed goes with the membership, the user's account and the partner's activity.
    user.is_active = False
    user.save()
    assert client.get(f"/calendar/staff/{token}.ics").status_code == 404
    user.is_active = True
    user.save()
    partner.is_active = False
    partner.save()
    assert client.get(f"/calendar/staff/{token}.ics").status_code == 404
    partner.is_active = True
    partner.save()
    assert client.get(f"/calendar/staff/{token}.ics").status_code == 200
    PartnerMembership.objects.filter(pk=membership.pk).delete()
    assert not StaffCalendarFeed.objects.exists()
    assert client.get(f"/calendar/staff/{token}.ics").status_code == 404


def test_feed_reads_a_fixed_number_of_queries(client, site, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    partner = factories.partner()
    course = factories.course(owner=partner)
    for i in range(12):
        session = factories.session(course_page=course, organiser=partner, starts_in=timedelta(days=3 + i))
        factories.registration(session_obj=session)
    _user, membership = _staff(partner)
    url = _url(get_or_create_feed(membership=membership))
    with CaptureQueriesContext(connection) as cold:
        assert len(_events(client.get(url))) == 12
    # Cold: the feed row, the key rows, one load of the sessions with their counts, the site (the database cache
    # backend itself writes key by key, so its queries are left out of the count).
    app_queries = [q["sql"] for q in cold.captured_queries
                   if "dekiru_cache" not in q["sql"] and "SAVEPOINT" not in q["sql"]]
    assert len(app_queries) <= 5, app_queries
    with django_assert_max_num_queries(4):
        client.get(url)


def test_admin_page_creates_regenerates_and_revokes_own_feed(client, site):
    partner, other = factories.partner(), factories.partner()
    factories.session(organiser=partner)
    user, membership = _staff(partner)
    someone, their_membership = _staff(other, username="someone-else")
    their_feed = get_or_create_feed(membership=their_membership)
    client.force_login(user)
    page = client.get("/admin/my-calendar-feeds/")
    assert page.status_code == 200
    assert partner.name in page.content.decode() and other.name not in page.content.decode()

    client.post("/admin/my-calendar-feeds/", {"membership": membership.pk, "action": "create"})
    feed = StaffCalendarFeed.objects.get(membership=membership)
    body = client.get("/admin/my-calendar-feeds/").content.decode()
    assert f"http://testserver/calendar/staff/{feed_token(feed)}.ics" in body
    assert f"webcal://testserver/calendar/staff/{feed_token(feed)}.ics" in body
    assert feed_token(their_feed) not in body

    old = _url(feed)
    client.post("/admin/my-calendar-feeds/", {"membership": membership.pk, "action": "regenerate"})
    feed.refresh_from_db()
    assert client.get(old).status_code == 404 and client.get(_url(feed)).status_code == 200

    client.post("/admin/my-calendar-feeds/", {"membership": membership.pk, "action": "revoke"})
    feed.refresh_from_db()
    assert not feed.is_active and feed.revoked_at is not None
    assert "calendar/staff/" not in client.get("/admin/my-calendar-feeds/").content.decode()

    # Someone else's membership: not found, and their feed is untouched.
    response = client.post("/admin/my-calendar-feeds/", {"membership": their_membership.pk, "action": "revoke"})
    assert response.status_code == 404
    their_feed.refresh_from_db()
    assert their_feed.is_active
    assert client.post("/admin/my-calendar-feeds/", {"membership": membership.pk, "action": "x"}).status_code == 400


def test_revoked_needs_no_key_constraint(site):
    from django.db import IntegrityError, transaction

    partner = factories.partner()
    _user, membership = _staff(partner)
    feed = get_or_create_feed(membership=membership)
    with pytest.raises(IntegrityError), transaction.atomic():
        StaffCalendarFeed.objects.filter(pk=feed.pk).update(key="")


def test_the_account_page_links_to_the_feeds(client, site):
    user, _membership = _staff(factories.partner())
    client.force_login(user)
    assert "/admin/my-calendar-feeds/" in client.get("/admin/account/").content.decode()
