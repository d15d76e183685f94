"""A person books, fills a class, joins the waiting list, cancels, and sees the promotion — in Chromium,
on a phone-sized screen, without JavaScript."""

import pytest

from courses.models import Registration
from tests import factories

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.clock]


def fill_and_submit(page, *, name, kana, phone):
    page.fill("#id_name", name)
    page.fill("#id_kana", kana)
    page.fill("#id_phone", phone)
    page.select_option("#id_age_band", "75-79")
    page.select_option("#id_ward", "outside")
    page.check("#id_consent")
    page.check("input[name=notify_by][value=call]")
    page.click("main form button[type=submit]")
    page.click("main form button[name=step][value=register]")  # the review page (入力内容の確認)


def test_book_fill_waitlist_cancel_and_promotion(live_server, phone_page, site):
    session = factories.session(capacity=2)
    course_url = live_server.url + "/en" + session.course.url
    page = phone_page

    # Two people take the two seats.
    tokens = {}
    for name, kana, phone in [("Sato Kazuko", "サトウ カズコ", "090-1111-0001"),
                              ("Suzuki Hiroshi", "すずき ひろし", "０９０ー１１１１ー０００２")]:
        page.goto(course_url)
        page.locator(".session").get_by_role("link", name="Register").first.click()
        fill_and_submit(page, name=name, kana=kana, phone=phone)
        assert page.locator("h1").inner_text() == "You are registered"
        tokens[name] = page.url
    assert session.registrations.filter(status=Registration.Status.CONFIRMED).count() == 2

    # The class is now full: the third person joins the waiting list.
    page.goto(course_url)
    assert "Full" in page.locator(".session").first.inner_text()
    page.get_by_role("link", name="Join the waiting list").first.click()
    fill_and_submit(page, name="Takahashi Yoko", kana="ﾀｶﾊｼ ﾖｳｺ", phone="080-2222-0003")
    assert page.locator("h1").inner_text() == "You are on the waiting list"
    assert "number 1" in page.locator(".notice").first.inner_text()
    waiting_url = page.url

    # The first person cancels from their own link…
    page.goto(tokens["Sato Kazuko"])
    page.get_by_role("link", name="Cancel this registration").click()
    page.get_by_role("button", name="Yes, cancel my registration").click()
    assert page.locator("h1").inner_text() == "Registration cancelled"

    # …and the person waiting now has the seat.
    page.goto(waiting_url)
    assert page.locator("h1").inner_text() == "You are registered"
    promoted = Registration.objects.get(participant__name="Takahashi Yoko")
    assert promoted.status == Registration.Status.CONFIRMED
    assert promoted.participant.kana == "タカハシ ヨウコ"


def test_japanese_is_the_default(live_server, phone_page, site):
    session = factories.session()
    phone_page.goto(live_server.url + session.course.url)
    assert phone_page.locator("html").get_attribute("lang") == "ja"
    assert session.course.title in phone_page.locator("h1").inner_text()


def test_resident_finds_a_class_in_their_ward_registers_and_cancels(live_server, phone_page, site):
    from partners.models import Ward

    takatsu = Ward.objects.get(code="141348")
    elsewhere = factories.session(venue=factories.venue(ward=Ward.objects.get(code="141313")))
    mine = factories.session(venue=factories.venue(ward=takatsu))
    page = phone_page

    page.goto(live_server.url + "/")
    page.get_by_role("link", name="高津区").click()
    cards = page.locator(".session")
    assert cards.count() == 1
    assert mine.course.title in cards.first.inner_text()
    assert elsewhere.course.title not in page.content()

    cards.first.locator("a.button").click()
    fill_and_submit(page, name="高津 ミドリ", kana="たかつ みどり", phone="044-811-0000")
    assert mine.registrations.get().status == Registration.Status.CONFIRMED
    assert "044-811-0000" in page.content()  # the confirmation says where messages go

    page.locator("a.button-secondary", has_text="取り消す").first.click()
    page.locator("main form button[type=submit]").click()
    assert mine.registrations.get().status == Registration.Status.CANCELLED


def test_family_member_books_for_a_parent(live_server, phone_page, site):
    session = factories.session()
    page = phone_page
    page.goto(live_server.url + "/en/")
    page.get_by_role("link", name="Find a class for them").click()
    page.locator(".session").first.locator("a.button").click()

    page.check("input[name=booking_for][value=other]")
    page.fill("#id_name", "Kawasaki Tome")
    page.fill("#id_kana", "カワサキ トメ")
    page.select_option("#id_age_band", "85+")
    page.select_option("#id_ward", "declined")
    page.fill("#id_booker_name", "Kawasaki Hanako")
    page.fill("#id_booker_relationship", "Daughter")
    page.fill("#id_booker_phone", "080-1234-0000")
    page.check("#id_consent")
    page.check("input[name=notify_by][value=call]")
    page.click("main form button[type=submit]")
    page.click("main form button[name=step][value=register]")  # the review page (入力内容の確認)

    assert page.locator("h1").inner_text() == "You are registered"
    assert "Booked by Kawasaki Hanako for Kawasaki Tome." in page.content()
    registration = session.registrations.get()
    assert registration.booked_by == Registration.BookedBy.FAMILY
    assert (registration.participant.phone, registration.booker_phone) == ("", "08012340000")
