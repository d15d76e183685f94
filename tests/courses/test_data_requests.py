"""A resident's data requests in the admin (courses.data_requests, courses.admin.data_requests): find, see, export,
erase; who may do what; audit entries with ids only; statistics unchanged by an erasure."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse
from wagtail.models import ModelLogEntry

from cms import roles
from courses import data_requests
from courses.models import OutgoingMessage, Participant, Registration
from outreach import metrics, summaries
from outreach.models import SelfAssessment, SkillItem, SkillScore
from partners.services import add_membership
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.clock]
Status = Registration.Status
ERASE = {"reason": data_requests.ErasureReason.RESIDENT_REQUEST, "confirm": "on"}


def staff(role, partner=None, *, username=None):
    user = get_user_model().objects.create_user(username or role.lower().replace(" ", "-"), password="pw")
    user.groups.add(Group.objects.get(name=role))
    if partner is not None:
        add_membership(partner=partner, user=user, role="manager")
    return user


def url(name, *args):
    return reverse(f"data_requests:{name}", args=args)


@pytest.fixture
def resident(site):
    """Hanako: attended a past session of partner A (with self-assessments and a message), booked on an
    upcoming one (full, with someone waiting), and booked by her son on another past one."""
    partner = factories.partner()
    past = factories.session(organiser=partner, course_page=factories.course(owner=partner),
                             starts_in=-timedelta(days=30))
    upcoming = factories.session(organiser=partner, course_page=past.course, starts_in=timedelta(days=10),
                                 capacity=1)
    hanako = factories.participant(name="多摩 花子", kana="タマ ハナコ", phone="09011112222",
                                   email="hanako@example.jp", accessibility_needs="補聴器を使っています")
    attended = factories.registration(session_obj=past, participant=hanako, status=Status.ATTENDED)
    booked = factories.registration(session_obj=upcoming, participant=hanako, status=Status.CONFIRMED)
    waiting = factories.registration(session_obj=upcoming, status=Status.WAITLISTED)
    other_past = factories.session(organiser=partner, course_page=past.course, starts_in=-timedelta(days=20))
    proxy = factories.registration(session_obj=other_past, participant=hanako, status=Status.NO_SHOW,
                                   booked_by=Registration.BookedBy.FAMILY, booker_name="川崎 一郎",
                                   booker_relationship="長男", booker_phone="08033334444")
    for kind, score in ((SelfAssessment.Kind.PRE, 0), (SelfAssessment.Kind.POST, 2)):
        assessment = SelfAssessment.objects.create(registration=attended, kind=kind,
                                                   source=SelfAssessment.Source.TABLET)
        SkillScore.objects.create(assessment=assessment, item=SkillItem.objects.get(number=1), score=score)
    sent = OutgoingMessage.objects.create(
        key=f"test:{attended.pk}", kind=OutgoingMessage.Kind.CONFIRMED, registration=attended, session=past,
        to_name=hanako.name, to_email=hanako.email, subject="お申し込みを受け付けました（多摩 花子様）",
        body_text="多摩 花子様", status=OutgoingMessage.Status.SENT)
    return {"partner": partner, "hanako": hanako, "attended": attended, "booked": booked, "waiting": waiting,
            "proxy": proxy, "message": sent, "past": past, "upcoming": upcoming}


# --- Who may do what --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [roles.PARTNER_MANAGER, roles.PARTNER_INSTRUCTOR, roles.CITY_ANALYST])
def test_partner_staff_and_analysts_get_403_everywhere(client, resident, role):
    pk = resident["hanako"].pk
    partner = resident["partner"] if role != roles.CITY_ANALYST else None
    client.force_login(staff(role, partner))
    assert client.get(url("find")).status_code == 403
    assert client.post(url("find"), {"q": "09011112222"}).status_code == 403
    assert client.get(url("person", pk)).status_code == 403
    assert client.post(url("export", pk, "json")).status_code == 403
    assert client.get(url("erase", pk)).status_code == 403
    assert client.post(url("erase", pk), ERASE).status_code == 403
    assert Participant.objects.get(pk=pk).anonymised_at is None
    assert not ModelLogEntry.objects.filter(action__startswith="courses.participant.").exists()
    assert url("find") not in client.get("/admin/").content.decode()  # no menu item either


def test_partner_b_staff_get_403(client, resident):
    other = factories.partner()
    client.force_login(staff(roles.PARTNER_MANAGER, other))
    assert client.get(url("person", resident["hanako"].pk)).status_code == 403


def test_anonymous_is_sent_to_login(client, resident):
    response = client.get(url("person", resident["hanako"].pk))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_call_centre_finds_sees_and_exports_but_does_not_erase(client, resident):
    hanako = resident["hanako"]
    client.force_login(staff(roles.CALL_CENTRE_OPERATOR))
    assert client.get(url("find")).status_code == 200
    assert client.post(url("export", hanako.pk, "json")).status_code == 200
    body = client.get(url("person", hanako.pk)).content.decode()
    assert url("erase", hanako.pk) not in body
    assert client.get(url("erase", hanako.pk)).status_code == 403
    assert client.post(url("erase", hanako.pk), ERASE).status_code == 403
    assert Participant.objects.get(pk=hanako.pk).anonymised_at is None


def test_menu_item_for_city_staff_who_look_after_records(client, site):
    client.force_login(staff(roles.CALL_CENTRE_OPERATOR))
    assert url("find") in client.get("/admin/").content.decode()


# --- Find and see -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["090-1111-2222", "たま はなこ", "多摩花子", "HANAKO@example.jp"])
def test_find_by_phone_kana_name_or_email_by_post(client, resident, query):
    client.force_login(staff(roles.CITY_PROGRAMME_OFFICER))
    response = client.post(url("find"), {"q": query})
    assert response.status_code == 200
    assert url("person", resident["hanako"].pk) in response.content.decode()


def test_person_page_shows_everything_held(client, resident):
    client.force_login(staff(roles.CITY_ADMINISTRATOR))
    body = client.get(url("person", resident["hanako"].pk)).content.decode()
    for text in ("多摩 花子", "タマ ハナコ", "hanako@example.jp", "補聴器を使っています", "川崎 一郎", "長男",
                 "お申し込みを受け付けました（多摩 花子様）", resident["past"].course.title,
                 SkillItem.objects.get(number=1).text):
        assert text in body, text
    assert url("erase", resident["hanako"].pk) in body


# --- Export -----------------------------------------------------------------------------------------------------


def test_json_export_holds_everything_and_is_logged_with_ids_only(client, resident):
    hanako = resident["hanako"]
    user = staff(roles.CALL_CENTRE_OPERATOR)
    client.force_login(user)
    response = client.post(url("export", hanako.pk, "json"))
    assert response["Content-Disposition"] == f'attachment; filename="participant-{hanako.pk}.json"'
    data = json.loads(response.content)
    assert data["participant"]["name"] == "多摩 花子" and data["participant"]["phone"] == "09011112222"
    assert {r["id"] for r in data["registrations"]} == {resident["attended"].pk, resident["booked"].pk,
                                                          resident["proxy"].pk}
    proxy = next(r for r in data["registrations"] if r["id"] == resident["proxy"].pk)
    assert (proxy["booker_name"], proxy["booker_phone"], proxy["course"]) == (
        "川崎 一郎", "08033334444", resident["past"].course.title)
    assert data["messages"][0]["to_email"] == "hanako@example.jp"
    assert "body_text" not in data["messages"][0]  # the text holds the personal cancellation link
    assert [s["score"] for a in data["self_assessments"] for s in a["scores"]] == [0, 2]

    entry = ModelLogEntry.objects.get(action=data_requests.EXPORT_LOG_ACTION)
    assert entry.label == f"Participant {hanako.pk}" and entry.user_id == user.pk
    assert entry.data["format"] == "json"
    assert "川崎" not in json.dumps(entry.data, ensure_ascii=False)


def test_csv_export_for_excel(client, resident):
    hanako = resident["hanako"]
    Participant.objects.filter(pk=hanako.pk).update(accessibility_needs="=HYPERLINK(\"http://x\")")
    client.force_login(staff(roles.CITY_PROGRAMME_OFFICER))
    response = client.post(url("export", hanako.pk, "csv"))
    assert response["Content-Type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    values = {(row[0], row[2]): row[3] for row in rows[1:]}
    assert values[("participant", "name")] == "多摩 花子"
    assert values[("participant", "accessibility_needs")].startswith("'=")  # never runs as a formula
    assert ("registrations", "booker_name") in values
    assert ModelLogEntry.objects.filter(action=data_requests.EXPORT_LOG_ACTION, data__format="csv").exists()


def test_export_needs_post_and_a_known_format(client, resident):
    client.force_login(staff(roles.CITY_ADMINISTRATOR))
    assert client.get(url("export", resident["hanako"].pk, "json")).status_code == 405
    assert client.post(url("export", resident["hanako"].pk, "xml")).status_code == 404
    assert not ModelLogEntry.objects.filter(action=data_requests.EXPORT_LOG_ACTION).exists()


# --- Erase ------------------------------------------------------------------------------------------------------


def test_erase_asks_for_confirmation_and_a_reason(client, resident):
    hanako = resident["hanako"]
    client.force_login(staff(roles.CITY_PROGRAMME_OFFICER))
    page = client.get(url("erase", hanako.pk))
    assert page.status_code == 200
    assert resident["upcoming"].course.title in page.content.decode()  # the booking that will be cancelled
    assert client.post(url("erase", hanako.pk), {"reason": ERASE["reason"]}).status_code == 400
    assert client.post(url("erase", hanako.pk), {"confirm": "on"}).status_code == 400
    assert client.post(url("erase", hanako.pk), {"confirm": "on", "reason": "because"}).status_code == 400
    hanako.refresh_from_db()
    assert hanako.anonymised_at is None and hanako.name == "多摩 花子"


def test_erase_removes_personal_data_and_keeps_statistics(client, resident):
    hanako = resident["hanako"]
    fiscal_year = metrics.fiscal_year_of(resident["past"].starts_at.date())
    with summaries.plain():
        filters = metrics.Filters(fiscal_year=fiscal_year)
        before = (metrics.summary(filters, now=resident["past"].ends_at + timedelta(days=15)),
                  metrics.attendance_by_band(filters), metrics.reach(filters), metrics.skills(filters))
    link = resident["attended"].get_manage_url()
    admin = staff(roles.CITY_ADMINISTRATOR)
    client.force_login(admin)

    response = client.post(url("erase", hanako.pk), ERASE)

    assert response.status_code == 302 and response["Location"] == url("person", hanako.pk)
    hanako.refresh_from_db()
    assert hanako.anonymised_at is not None
    assert (hanako.name, hanako.kana, hanako.phone, hanako.email, hanako.accessibility_needs) == ("",) * 5
    assert (hanako.age_band, hanako.ward_id) == ("70-74", None)
    proxy = Registration.objects.get(pk=resident["proxy"].pk)
    assert (proxy.booker_name, proxy.booker_relationship, proxy.booker_phone) == ("", "", "")
    message = OutgoingMessage.objects.get(pk=resident["message"].pk)
    assert (message.to_name, message.to_email, message.subject, message.body_text) == ("", "", "", "")
    assert SelfAssessment.objects.filter(registration__participant=hanako).count() == 2
    assert client.get(link).status_code == 404
    # The upcoming booking is cancelled and its seat has gone to the person waiting.
    assert Registration.objects.get(pk=resident["booked"].pk).status == Status.CANCELLED
    assert Registration.objects.get(pk=resident["waiting"].pk).status == Status.CONFIRMED
    # Nothing left to send to her: the cancellation notice is withdrawn and blank.
    for unsent in OutgoingMessage.objects.filter(registration__participant=hanako).exclude(pk=message.pk):
        assert unsent.status == OutgoingMessage.Status.CANCELLED and unsent.to_name == unsent.to_phone == ""
    with summaries.plain():
        after = (metrics.summary(filters, now=resident["past"].ends_at + timedelta(days=15)),
                 metrics.attendance_by_band(filters), metrics.reach(filters), metrics.skills(filters))
    assert after == before

    entry = ModelLogEntry.objects.get(action=data_requests.ERASE_LOG_ACTION)
    assert entry.label == f"Participant {hanako.pk}" and entry.user_id == admin.pk
    assert entry.data["reason"] == "resident_request"
    assert entry.data["cancelled_bookings"] == [resident["booked"].pk]
    everything = "\n".join(json.dumps(row, default=str, ensure_ascii=False) for model in (
        Participant, Registration, OutgoingMessage, ModelLogEntry) for row in model.objects.values())
    for secret in ("多摩 花子", "タマ ハナコ", "09011112222", "hanako@example.jp", "補聴器", "川崎 一郎",
                   "08033334444"):
        assert secret not in everything, [line for line in everything.splitlines() if secret in line]


def test_erased_person_is_not_found_and_cannot_be_erased_twice(client, resident):
    hanako = resident["hanako"]
    data_requests.erase_participant(participant=hanako, reason="consent_withdrawn")
    client.force_login(staff(roles.CITY_ADMINISTRATOR))
    assert url("person", hanako.pk) not in client.post(url("find"), {"q": "09011112222"}).content.decode()
    assert client.get(url("person", hanako.pk)).status_code == 200
    assert client.get(url("erase", hanako.pk)).status_code == 302
    assert client.post(url("erase", hanako.pk), ERASE).status_code == 302
    assert ModelLogEntry.objects.filter(action=data_requests.ERASE_LOG_ACTION).count() == 1
    with pytest.raises(data_requests.AlreadyErased):
        data_requests.erase_participant(participant=hanako, reason="consent_withdrawn")
