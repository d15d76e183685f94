"""Support-desk consultations (outreach.consultations and the admin at /admin/outreach/consultations/): the entry
form's defaults and keyboard-ready structure, recording and correcting through the service (audit-logged), the
filtered list in a fixed number of queries, the spreadsheet import (all or nothing, every bad row reported), the
template download, and who may do what."""

import io
import re
from datetime import date, timedelta

import openpyxl
import pytest
from bs4 import BeautifulSoup
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from wagtail.models import ModelLogEntry
from wagtail.users.models import UserProfile

from cms import roles
from courses import spreadsheets
from outreach import consultation_import, consultations
from outreach.models import Consultation, ConsultationTopic
from outreach.resources import ConsultationResource
from partners.models import Ward
from tests import factories
from tests.courses.test_spreadsheets import csv_bytes, staff, xlsx_bytes
from tests.refusals import refused_page

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

Place, Outcome, Residence = Consultation.Place, Consultation.Outcome, Consultation.Residence
JA_HEADERS = ["日付", "場所", "実施区", "年齢階級", "居住区", "相談内容", "結果", "所要時間(分)"]


def url(name, *args):
    return reverse(f"outreach_consultations:{name}", args=args)


def wards() -> list[Ward]:
    return list(Ward.objects.order_by("sort_order"))


def topic(name_en: str) -> ConsultationTopic:
    return ConsultationTopic.objects.get(name_en=name_en)


def record(actor=None, **fields) -> Consultation:
    """A consultation through the service; where the person lives: the ward given, else "not given"."""
    values = {"date": timezone.localdate(), "place": Place.WARD_OFFICE, "place_ward": wards()[0], "age_band": "70-74",
              "residence_ward": None, "topics": [topic("LINE and messaging")], "outcome": Outcome.SOLVED,
              "duration_minutes": 15, "actor": actor}
    values.update(fields)
    values.setdefault("residence", Residence.CITY if values["residence_ward"] else Residence.DECLINED)
    return consultations.record_consultation(**values)


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.content.decode(), "html.parser")


def entry_form(page: BeautifulSoup):
    return page.find("form", action=url("add"))


def posted(form_data: dict) -> dict:
    data = {"date": timezone.localdate().isoformat(), "place": Place.WARD_OFFICE, "place_ward": wards()[0].pk,
            "age_band": "75-79", "residence_ward": Residence.DECLINED, "topics": [topic("My Number Card").pk],
            "outcome": Outcome.SOLVED, "duration_minutes": "15"}
    data.update(form_data)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def desk(site, client):
    """A call-centre operator, logged in, whose admin is in English (the texts asserted are the English source)."""
    user = staff(roles.CALL_CENTRE_OPERATOR)
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = "en"
    profile.save()
    client.force_login(user)
    return user


# --- The entry form ----------------------------------------------------------------------------------------------


def selected(form, name: str) -> str:
    """The value of the select's chosen option: the first one ("Please choose") when none is marked selected."""
    select = form.find("select", attrs={"name": name})
    option = select.find("option", selected=True) or select.find("option")
    return option["value"]


def test_entry_form_defaults_to_today_and_the_usual_place(client, desk):
    form = entry_form(soup(client.get(url("add"))))
    assert form.find("input", attrs={"name": "date"})["value"] == timezone.localdate().isoformat()
    # The first time there is no usual place: place and ward are chosen (no first ward preselected), and the
    # cursor starts on the place.
    assert not form.find("input", attrs={"name": "place", "checked": True})
    assert selected(form, "place_ward") == ""
    assert form.find(attrs={"autofocus": True})["name"] == "place"
    # What is picked each time starts empty, the length too (it is summed into the figures).
    assert not form.find("input", attrs={"name": "age_band", "checked": True})
    assert selected(form, "residence_ward") == ""
    assert not form.find("input", attrs={"name": "topics", "checked": True})
    assert not form.find("input", attrs={"name": "outcome", "checked": True})
    assert not form.find("input", attrs={"name": "duration_minutes"}).get("value")

    # The usual place is where this user recorded last (another user's entries do not count).
    record(actor=desk, place=Place.COMMUNITY_CENTRE, place_ward=wards()[3], date=timezone.localdate() - timedelta(1))
    record(actor=staff(roles.CALL_CENTRE_OPERATOR), place=Place.OUTREACH_EVENT, place_ward=wards()[5])
    form = entry_form(soup(client.get(url("add"))))
    assert form.find("input", attrs={"name": "place", "checked": True})["value"] == Place.COMMUNITY_CENTRE
    assert form.find("select", attrs={"name": "place_ward"}).find("option", selected=True)["value"] == str(
        wards()[3].pk)
    assert form.find("input", attrs={"name": "date"})["value"] == timezone.localdate().isoformat()
    assert form.find(attrs={"autofocus": True})["name"] == "age_band"
    assert selected(form, "residence_ward") == "" and not form.find("input", attrs={"name": "duration_minutes"}).get(
        "value")


def test_where_they_live_offers_the_wards_outside_the_city_and_not_given(client, desk):
    options = [(option["value"], option.get_text(strip=True)) for option in
               entry_form(soup(client.get(url("add")))).find("select", attrs={"name": "residence_ward"})("option")]
    with translation.override("en"):
        ward_options = [(str(ward.pk), str(ward)) for ward in wards()]
    assert options == [("", "Please choose"), *ward_options,
                       ("outside", "Outside the city"), ("declined", "Not given")]


@pytest.mark.parametrize(("answer", "stored"), [
    ("ward", ("city", 1)), ("outside", ("outside", None)), ("declined", ("declined", None))])
def test_where_they_live_is_stored_as_answered(client, desk, answer, stored):
    ward = wards()[1]
    client.post(url("add"), posted({"residence_ward": ward.pk if answer == "ward" else answer}))
    consultation = Consultation.objects.get()
    assert (consultation.residence, consultation.residence_ward) == (stored[0], ward if stored[1] else None)
    assert ModelLogEntry.objects.get(action=consultations.RECORDED).data["residence"] == stored[0]


@pytest.mark.parametrize("missing", ["place", "place_ward", "residence_ward", "duration_minutes", "age_band"])
def test_every_answer_that_feeds_the_figures_is_required(client, desk, missing):
    response = client.post(url("add"), posted({missing: ""}))
    assert response.status_code == 400 and not Consultation.objects.exists()
    assert response.context["form"].errors.keys() == {missing}
    for bad in ("0", "-1", "outsider", "99999999999"):
        response = client.post(url("add"), posted({"residence_ward": bad}))
        assert response.status_code == 400 and "residence_ward" in response.context["form"].errors
    assert not Consultation.objects.exists()


def test_entry_form_is_built_for_the_keyboard(client, desk):
    record(actor=desk)  # a usual place: where and when are prefilled
    form = entry_form(soup(client.get(url("add"))))
    controls = form.find_all(["input", "select", "textarea"])
    for control in controls:
        if control.get("type") in ("hidden", "submit"):
            continue
        labels = form.find_all("label", attrs={"for": control["id"]})
        assert len(labels) == 1 and labels[0].get_text(strip=True), f"{control.get('name')} has no label"
    # Every group of radios or checkboxes is a fieldset named by its legend.
    for name in ("place", "age_band", "topics", "outcome"):
        boxes = form.find_all("input", attrs={"name": name})
        assert len(boxes) >= 3 and all(box["type"] in ("radio", "checkbox") for box in boxes)
        fieldsets = {id(box.find_parent("fieldset")) for box in boxes}
        assert len(fieldsets) == 1, name
        legend = boxes[0].find_parent("fieldset").find("legend")
        assert legend is not None and legend.get_text(strip=True)
    age_bands = [box["value"] for box in form.find_all("input", attrs={"name": "age_band"})]
    assert age_bands[-1] == "not_given" and "85+" in age_bands
    # Native controls only, in a logical order, no positive tabindex; the cursor starts on the first age band.
    assert not form.find(attrs={"tabindex": re.compile(r"^[1-9]")})
    assert not form.find(attrs={"contenteditable": True})
    order = [control["name"] for control in controls if control.get("name") not in (None, "csrfmiddlewaretoken")]
    first = list(dict.fromkeys(order))
    assert first == ["date", "place", "place_ward", "age_band", "residence_ward", "topics", "outcome",
                     "duration_minutes"]
    focused = form.find_all(attrs={"autofocus": True})
    assert len(focused) == 1 and focused[0]["name"] == "age_band" and focused[0]["value"] == "u20"
    # Enter submits: a submit button inside the form.
    assert form.find("button", attrs={"type": "submit"})


def test_saving_records_logs_and_shows_an_empty_form_with_todays_entries(client, desk):
    response = client.post(url("add"), posted({"topics": [topic("My Number Card").pk, topic("Cashless payment").pk],
                                               "residence_ward": wards()[1].pk, "duration_minutes": "20"}))
    assert response.status_code == 302 and response["Location"] == url("add")
    consultation = Consultation.objects.get()
    assert (consultation.date, consultation.place, consultation.place_ward, consultation.age_band,
            consultation.residence_ward, consultation.outcome, consultation.duration_minutes,
            consultation.recorded_by) == (timezone.localdate(), Place.WARD_OFFICE, wards()[0], "75-79", wards()[1],
                                          Outcome.SOLVED, 20, desk)
    assert {t.name_en for t in consultation.topics.all()} == {"My Number Card", "Cashless payment"}
    entry = ModelLogEntry.objects.get(action=consultations.RECORDED)
    assert entry.object_id == str(consultation.pk) and entry.user_id == desk.pk
    assert entry.data["topics"] == sorted(t.pk for t in consultation.topics.all())

    page = client.get(response["Location"])
    html = page.content.decode()
    assert "Consultation recorded" in html
    form = entry_form(soup(page))
    assert not form.find("input", attrs={"name": "topics", "checked": True})
    today = soup(page).find("table", attrs={"aria-labelledby": "today-heading"})
    assert today is not None and len(today.find("tbody").find_all("tr")) == 1
    assert "Cashless payment" in today.get_text()  # in the user's language
    # Another user's entry is not "mine".
    record(actor=staff(roles.CALL_CENTRE_OPERATOR))
    today = soup(client.get(url("add"))).find("table", attrs={"aria-labelledby": "today-heading"})
    assert len(today.find("tbody").find_all("tr")) == 1


def test_age_band_not_given_is_stored_empty(client, desk):
    client.post(url("add"), posted({"age_band": "not_given"}))
    assert Consultation.objects.get().age_band == ""


def test_an_incomplete_form_saves_nothing_and_focuses_the_first_error(client, desk):
    response = client.post(url("add"), posted({"age_band": None, "topics": None, "outcome": None,
                                               "duration_minutes": "0"}))
    assert response.status_code == 400 and not Consultation.objects.exists()
    form = entry_form(soup(response))
    invalid = {fieldset.find("input")["name"] for fieldset in form.find_all("fieldset", attrs={"aria-invalid": "true"})}
    assert invalid == {"age_band", "topics", "outcome"}
    focused = form.find_all(attrs={"autofocus": True})
    assert len(focused) == 1 and focused[0]["name"] == "age_band"
    # What was entered stays.
    assert form.find("input", attrs={"name": "place", "checked": True})["value"] == Place.WARD_OFFICE

    response = client.post(url("add"), posted({"date": (timezone.localdate() + timedelta(days=1)).isoformat()}))
    assert response.status_code == 400 and not Consultation.objects.exists()
    assert entry_form(soup(response)).find(attrs={"autofocus": True})["name"] == "date"


def test_service_refuses_what_breaks_the_rules(site):
    with pytest.raises(ValidationError) as raised:
        record(topics=[], duration_minutes=601, date=timezone.localdate() + timedelta(days=2), age_band="70s")
    assert set(raised.value.message_dict) == {"topics", "duration_minutes", "date", "age_band"}
    assert not Consultation.objects.exists() and not ModelLogEntry.objects.filter(
        action=consultations.RECORDED).exists()


@pytest.mark.parametrize(("ward", "residence"), [
    (False, None), (False, ""), (False, "elsewhere"), (False, Residence.CITY), (True, Residence.OUTSIDE),
    (True, Residence.DECLINED), (True, "")])
def test_service_refuses_a_consultation_without_where_they_live(site, ward, residence):
    with pytest.raises(ValidationError) as raised:
        record(residence_ward=wards()[0] if ward else None, residence=residence)
    assert set(raised.value.message_dict) == {"residence"}
    assert not Consultation.objects.exists()


# --- The list and corrections ----------------------------------------------------------------------------------------


def test_list_filters(client, desk):
    w = wards()
    today = timezone.localdate()
    a = record(date=today - timedelta(days=40), place=Place.WARD_OFFICE, place_ward=w[0], outcome=Outcome.SOLVED,
               topics=[topic("LINE and messaging")])
    b = record(date=today - timedelta(days=10), place=Place.COMMUNITY_CENTRE, place_ward=w[2],
               outcome=Outcome.REFERRED_CLASS, topics=[topic("My Number Card"), topic("Scams and security")],
               residence_ward=w[4])
    c = record(date=today, place=Place.OUTREACH_EVENT, place_ward=w[2], outcome=Outcome.REFERRED_ELSEWHERE,
               topics=[topic("Scams and security")])

    def shown(**params):
        page = client.get(url("index"), params)
        assert page.status_code == 200
        return {int(re.search(r"/(\d+)/$", link["href"]).group(1))
                for link in soup(page).select("table a[href]") if "/consultations/" in link["href"]}

    assert shown() == {a.pk, b.pk, c.pk}
    assert shown(date_from=(today - timedelta(days=20)).isoformat()) == {b.pk, c.pk}
    assert shown(date_to=(today - timedelta(days=20)).isoformat()) == {a.pk}
    assert shown(place_ward=w[2].pk) == {b.pk, c.pk}
    assert shown(residence_ward=w[4].pk) == {b.pk}
    outside = record(residence=Residence.OUTSIDE)
    assert shown(residence_ward=Residence.OUTSIDE) == {outside.pk}
    assert shown(residence_ward=Residence.DECLINED) == {a.pk, c.pk}
    assert shown(residence_ward="nonsense") == {a.pk, b.pk, c.pk, outside.pk}
    assert shown(place=Place.OUTREACH_EVENT) == {c.pk}
    assert shown(outcome=Outcome.REFERRED_CLASS) == {b.pk}
    assert shown(topic=topic("Scams and security").pk) == {b.pk, c.pk}
    assert shown(topic=topic("Scams and security").pk, place_ward=w[2].pk, outcome=Outcome.SOLVED) == set()
    assert client.get(url("index"), {"date_from": "nonsense", "topic": "abc"}).status_code == 200


def test_list_reads_a_fixed_number_of_queries(client, desk, django_assert_num_queries):
    for index in range(3):
        record(actor=desk, topics=[topic("LINE and messaging"), topic("Other")], residence_ward=wards()[index])
    client.get(url("index"))  # warm caches (site, permissions)
    with CaptureQueriesContext(connection) as few:
        client.get(url("index"))
    for index in range(30):
        record(actor=staff(roles.CALL_CENTRE_OPERATOR) if index % 3 else desk,
               topics=[topic("My Number Card"), topic("Maps and transport"), topic("Other")],
               residence_ward=wards()[index % 7], place_ward=wards()[(index + 1) % 7])
    with django_assert_num_queries(len(few.captured_queries)):
        page = client.get(url("index"))
    assert len(soup(page).find("table", class_="consultation-table").find("tbody").find_all("tr")) == 33


def test_correcting_a_consultation(client, desk):
    consultation = record(actor=staff(roles.CALL_CENTRE_OPERATOR))
    page = client.get(url("edit", consultation.pk))
    assert page.status_code == 200
    form = soup(page).find("form", action=url("edit", consultation.pk))
    assert form.find("input", attrs={"name": "age_band", "checked": True})["value"] == "70-74"
    assert form.find("input", attrs={"name": "topics", "checked": True})["value"] == str(
        topic("LINE and messaging").pk)
    response = client.post(url("edit", consultation.pk), posted({"outcome": Outcome.REFERRED_CLASS,
                                                                 "topics": [topic("Other").pk]}))
    assert response.status_code == 302
    consultation.refresh_from_db()
    assert consultation.outcome == Outcome.REFERRED_CLASS and consultation.age_band == "75-79"
    assert [t.name_en for t in consultation.topics.all()] == ["Other"]
    assert ModelLogEntry.objects.filter(action=consultations.CHANGED, object_id=str(consultation.pk),
                                        user=desk).exists()
    assert client.get(url("edit", 999999)).status_code == 404


# --- Who may do what -------------------------------------------------------------------------------------------


def every_url(pk):
    return [url("index"), url("add"), url("edit", pk), url("import"), url("template")]


@pytest.mark.parametrize("role", [roles.PARTNER_MANAGER, roles.PARTNER_INSTRUCTOR])
def test_partner_staff_are_refused_everywhere(client, site, role):
    consultation = record()
    client.force_login(staff(role, factories.partner()))
    home = reverse("wagtailadmin_home")
    for address in every_url(consultation.pk):
        assert refused_page(client.get(address)), address
    for address in [url("add"), url("edit", consultation.pk), url("import"), url("import_confirm")]:
        response = client.post(address, posted({"token": "x"}))
        assert response.status_code == 302 and response["Location"] == home, address
    assert Consultation.objects.count() == 1
    consultation.refresh_from_db()
    assert consultation.age_band == "70-74"


def test_analyst_sees_the_list_but_cannot_add_change_or_import(client, site):
    consultation = record()
    client.force_login(staff(roles.CITY_ANALYST))
    page = client.get(url("index"))
    assert page.status_code == 200
    assert url("edit", consultation.pk) not in page.content.decode() and url("add") not in page.content.decode()
    for address in [url("add"), url("edit", consultation.pk), url("import"), url("template")]:
        assert refused_page(client.get(address)), address
    assert client.post(url("add"), posted({})).status_code == 302
    assert Consultation.objects.count() == 1


def test_city_officer_may_do_everything(client, site):
    consultation = record()
    client.force_login(staff(roles.CITY_PROGRAMME_OFFICER))
    for address in every_url(consultation.pk):
        assert client.get(address).status_code == 200, address


# --- Import ----------------------------------------------------------------------------------------------------


def upload(client, data: bytes, name: str):
    return client.post(url("import"), {"file": SimpleUploadedFile(name, data), "encoding": "auto"})


def token_of(response) -> str:
    match = re.search(r'name="token" value="([^"]+)"', response.content.decode())
    assert match, "no confirm form on the page"
    return match.group(1)


def test_import_adds_every_row_after_the_preview(client, desk):
    day = timezone.localdate() - timedelta(days=3)
    rows = [JA_HEADERS,
            [day, "区役所", "川崎区", "70〜74歳", "幸区", "LINE・メッセージ、マイナンバーカード", "解決", 20],
            [day.isoformat(), "Community centre", "141330", "85 and over", "Prefer not to say",
             "Scams and security; Other", "referred_class", "15"],
            [f"{day:%Y/%m/%d}", "outreach_event", "Asao-ku", "答えたくない", "市外", "キャッシュレス決済,地図・交通",
             "Referred elsewhere", "45"]]
    workbook = xlsx_bytes(rows)
    preview = upload(client, workbook, "desk.xlsx")
    assert preview.status_code == 200 and not Consultation.objects.exists()
    assert 'data-count="new">3<' in preview.content.decode()
    done = client.post(url("import_confirm"), {"token": token_of(preview)})
    assert done.status_code == 302 and done["Location"] == url("index")

    got = sorted((c.place, c.place_ward.code, c.age_band, c.residence_ward.code if c.residence_ward else None,
                  c.residence, c.outcome, c.duration_minutes, sorted(t.name_en for t in c.topics.all()), c.date,
                  c.recorded_by)
                 for c in Consultation.objects.all())
    assert got == sorted([
        (Place.WARD_OFFICE, "141313", "70-74", "141321", "city", Outcome.SOLVED, 20,
         ["LINE and messaging", "My Number Card"], day, desk),
        (Place.COMMUNITY_CENTRE, "141330", "85+", None, "declined", Outcome.REFERRED_CLASS, 15,
         ["Other", "Scams and security"], day, desk),
        (Place.OUTREACH_EVENT, "141372", "", None, "outside", Outcome.REFERRED_ELSEWHERE, 45,
         ["Cashless payment", "Maps and transport"], day, desk)])
    entry = ModelLogEntry.objects.get(action=consultations.IMPORTED)
    assert entry.user_id == desk.pk and entry.data["created"] == 3 and entry.data["sha256"]

    # The same file again: a warning that it was imported already.
    again = upload(client, workbook, "desk.xlsx")
    assert "already imported" in again.content.decode()


def test_english_headers_and_csv_are_accepted(client, desk):
    rows = [["Date", "Place", "Ward where it took place", "Age band", "Ward of residence", "Topics", "Outcome",
             "Length (minutes)"],
            [timezone.localdate().isoformat(), "ward office", "Kawasaki", "65-69", "Saiwai-ku", "Other", "solved", 10]]
    preview = upload(client, csv_bytes(rows, encoding="cp932"), "desk.csv")
    client.post(url("import_confirm"), {"token": token_of(preview)})
    assert Consultation.objects.get().residence_ward.code == "141321"


def test_a_file_with_bad_rows_adds_nothing_and_reports_every_one(client, desk):
    record(actor=desk)
    future = timezone.localdate() + timedelta(days=5)
    rows = [JA_HEADERS,
            [date(2025, 5, 1), "区役所", "川崎区", "70-74", "市外", "その他", "解決", 10],  # row 2: fine
            ["2025-13-01", "区役所", "川崎区", "70-74", "市外", "その他", "解決", 10],  # row 3: no such date
            [future, "自宅", "品川区", "70-74", "市外", "その他", "解決", 10],  # row 4: future, place, ward
            [date(2025, 5, 1), "区役所", "川崎区", "70代", "X区", "", "わからない", 0],  # row 5: six problems
            [date(2025, 5, 1), "区役所", "川崎区", "70-74", "答えたくない", "ゲーム、その他", "解決", "=1+1"],  # row 6
            ]
    preview = upload(client, xlsx_bytes(rows), "bad.xlsx")
    html = preview.content.decode()
    assert preview.status_code == 200 and 'name="token"' not in html
    assert 'data-count="errors">4<' in html
    table = soup(preview).find("table", id="spreadsheet-errors")
    reported = {(cells[0].get_text(strip=True), cells[1].get_text(strip=True))
                for cells in (row.find_all("td") for row in table.find("tbody").find_all("tr"))}
    assert reported == {("3", "日付"), ("4", "日付"), ("4", "場所"), ("4", "実施区"), ("5", "年齢階級"),
                        ("5", "居住区"), ("5", "相談内容"), ("5", "結果"), ("5", "所要時間(分)"), ("6", "相談内容"),
                        ("6", "所要時間(分)")}
    assert "品川区" in html and "ゲーム" in html and "formula" in html
    assert Consultation.objects.count() == 1

    # Applying (the confirmation re-checks the file): nothing is written either.
    table = spreadsheets.read_upload(xlsx_bytes(rows), filename="bad.xlsx")
    with pytest.raises(spreadsheets.ImportRefused) as refused:
        consultation_import.import_consultations(table, user=desk, filename="bad.xlsx")
    assert refused.value.report.error_rows == 4
    assert Consultation.objects.count() == 1
    assert not ModelLogEntry.objects.filter(action=consultations.IMPORTED).exists()


def test_missing_columns_are_named(client, desk):
    response = upload(client, csv_bytes([["日付", "場所"], ["2025-05-01", "区役所"]]), "short.csv")
    assert response.status_code == 400
    text = response.content.decode()
    assert "Columns missing" in text and "Ward where it took place" in text and "Topics" in text
    assert "Outcome" in text


def test_template_download_has_the_columns_and_reads_back(client, desk):
    english = openpyxl.load_workbook(io.BytesIO(b"".join(client.get(url("template")).streaming_content)))
    assert [cell.value for cell in english.worksheets[0][1]][:3] == ["Date", "Place", "Ward where it took place"]
    profile = UserProfile.get_for_user(desk)
    profile.preferred_language = "ja"
    profile.save()
    response = client.get(url("template"))
    assert response.status_code == 200
    assert response["Content-Type"] == spreadsheets.XLSX_CONTENT_TYPE
    assert "attachment" in response["Content-Disposition"]
    data = b"".join(response.streaming_content)
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    headers = [cell.value for cell in workbook.worksheets[0][1]]
    assert headers == JA_HEADERS
    assert workbook.worksheets[0].max_row == 1
    values = workbook.worksheets[1]
    assert "川崎区 (141313)" in [cell.value for cell in values["C"]]
    keys, unknown = ConsultationResource.resolve_headers(headers)
    assert unknown == [] and "" not in keys


def test_menu_items_follow_the_permissions(rf, site):
    from outreach.admin import consultations as consultation_admin
    from outreach.admin import reference as reference_admin

    entry = consultation_admin.register_consultation_entry_menu_item()
    listing = consultation_admin.register_consultation_list_menu_item()
    reference = reference_admin.register_reference_menu_item()
    expected = {roles.CALL_CENTRE_OPERATOR: (True, True, False), roles.CITY_ANALYST: (False, True, True),
                roles.CITY_PROGRAMME_OFFICER: (True, True, True), roles.PARTNER_MANAGER: (False, False, False),
                roles.PARTNER_INSTRUCTOR: (False, False, False)}
    for role, shown in expected.items():
        request = rf.get("/admin/")
        request.user = staff(role, factories.partner() if role.startswith("Partner") else None)
        assert (entry.is_shown(request), listing.is_shown(request), reference.is_shown(request)) == shown, role
    assert entry.url == url("add") and listing.url == url("index")
