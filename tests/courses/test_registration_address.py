"""The registration form's own address, keyed by the session (/sessions/<id>/register/), and the rule that only
sessions of public courses can be booked, on every path (web form, phone booking, move)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from wagtail.models import PageViewRestriction

from courses import services
from courses.models import Participant, Registration
from courses.services import BookerDetails, ParticipantDetails
from partners.models import Ward
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def form_data(**overrides) -> dict:
    ward = Ward.objects.order_by("sort_order").first()
    data = {"step": "register",  # the review page's final button; without it a valid form shows the review
            "booking_for": "self", "name": "川崎 花子", "kana": "かわさき はなこ", "phone": "090-1234-5678",
            "email": "", "age_band": Participant.AgeBand.AGE_70_74, "ward": ward.pk,
            "device": Participant.Device.ANDROID, "accessibility_needs": "", "consent": "on", "notify_by": "call"}
    return data | overrides


def details() -> ParticipantDetails:
    return ParticipantDetails(name="川崎 太郎", kana="カワサキ タロウ", phone="09011112222", email="",
                              age_band=Participant.AgeBand.AGE_75_79)


def test_the_form_lives_at_the_sessions_own_address_in_both_languages(client, site):
    session = factories.session()

    assert client.get(f"/sessions/{session.pk}/register/").status_code == 200
    english = client.get(f"/en/sessions/{session.pk}/register/")
    assert english.status_code == 200
    assert "Register" in english.content.decode()


def test_course_pages_and_listings_link_to_the_new_address(client, site):
    session = factories.session()

    for url in (session.course.url, "/classes/", "/"):
        html = client.get(url).content.decode()
        assert f'href="/sessions/{session.pk}/register/"' in html, url
        assert f"{session.course.url}sessions/{session.pk}/register/" not in html, url


def test_old_course_page_links_redirect_and_keep_a_post(client, site):
    session = factories.session()
    old = f"{session.course.url}sessions/{session.pk}/register/"

    response = client.get(old)
    assert response.status_code == 308
    assert response["Location"] == f"/sessions/{session.pk}/register/"
    english = client.get("/en" + old)
    assert english["Location"] == f"/en/sessions/{session.pk}/register/"

    # A form opened before the move and sent after it still registers the person, once.
    response = client.post(old, form_data(), follow=True)
    assert response.status_code == 200
    assert Registration.objects.filter(session=session).count() == 1


def test_an_old_link_with_another_courses_session_is_404(client, site):
    session = factories.session()
    other = factories.course()

    assert client.get(f"{other.url}sessions/{session.pk}/register/").status_code == 404


def test_a_session_that_does_not_exist_is_404(client, site):
    assert client.get("/sessions/999999/register/").status_code == 404


def test_an_unpublished_course_cannot_be_booked_on_any_path(client, site):
    session = factories.session()
    session.course.unpublish()

    assert client.get(f"/sessions/{session.pk}/register/").status_code == 404
    assert client.post(f"/sessions/{session.pk}/register/", form_data()).status_code == 404
    with pytest.raises(services.CourseNotPublic):  # the phone booking and imports go through the service
        services.register(session=session, participant=details(), booker=BookerDetails(),
                          channel=Registration.Channel.PHONE)
    assert not Registration.objects.exists()


def test_a_private_course_cannot_be_booked_on_any_path(client, site):
    session = factories.session()
    PageViewRestriction.objects.create(page=session.course, restriction_type=PageViewRestriction.LOGIN)

    assert client.get(f"/sessions/{session.pk}/register/").status_code == 404
    with pytest.raises(services.CourseNotPublic):
        services.register(session=session, participant=details(), booker=BookerDetails(),
                          channel=Registration.Channel.PHONE)


def test_a_move_to_a_session_of_an_unpublished_course_is_refused(site):
    session, target = factories.session(), factories.session()
    registration = services.register(session=session, participant=details(), booker=BookerDetails(),
                                     channel=Registration.Channel.PHONE).registration
    target.course.unpublish()

    with pytest.raises(services.CourseNotPublic):
        services.move_registration(registration=registration, to_session=target)


def test_the_post_no_longer_pays_for_page_routing(client, site):
    """Measured: 19 queries for a first registration (the final POST, from the review page), was 26 through the
    course page's route (10 of them Wagtail's page routing). The public-course check costs 1 in the view's session
    query and 2 in the service, after its lock: a course unpublished meanwhile is refused."""
    session = factories.session()
    client.get(f"/sessions/{session.pk}/register/")  # the CSRF cookie, the site root paths cached
    data = form_data()  # (its own query for a ward, outside the count)

    with CaptureQueriesContext(connection) as queries:
        response = client.post(f"/sessions/{session.pk}/register/", data)
    assert response.status_code == 302
    assert len(queries) <= QUERY_BUDGET, "\n".join(q["sql"][:120] for q in queries.captured_queries)


def test_the_review_post_reads_and_writes_little(client, site):
    """Measured: 8 queries for the review step (a valid form, no step): the course's view restrictions, the session
    with its counts, the ward answered, and the page's own reads (settings, site, the privacy policy page, the
    cached site root paths); nothing is written."""
    session = factories.session()
    client.get(f"/sessions/{session.pk}/register/")
    data = {key: value for key, value in form_data().items() if key != "step"}

    with CaptureQueriesContext(connection) as queries:
        response = client.post(f"/sessions/{session.pk}/register/", data)
    assert response.status_code == 200 and "入力内容の確認" in response.content.decode()
    assert len(queries) <= REVIEW_QUERY_BUDGET, "\n".join(q["sql"][:120] for q in queries.captured_queries)
    assert not any(q["sql"].startswith(("INSERT", "UPDATE", "DELETE")) for q in queries.captured_queries)


QUERY_BUDGET = 19
REVIEW_QUERY_BUDGET = 8
