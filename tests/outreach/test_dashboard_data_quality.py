"""Notes on age bands the old registration form may have defaulted (outreach.data_quality): registrations through
the web or phone form made before the fix went live (when migration courses 0006 was applied, moved here by
updating its django_migrations row) whose participant is "under 20". The count per fiscal year (April–March, by
the session's start in the municipality's time zone), the filters, one query, and the note on the dashboard, the
annual report and the partner report, in both languages; nothing when there are none."""

import datetime as dt
import io

import openpyxl
import pytest
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone, translation

from cms import roles
from courses.data_quality import FIX_MIGRATION
from courses.models import Registration
from outreach import data_quality, metrics
from tests import factories
from tests.outreach.test_reports import at, held_session, staff

pytestmark = [pytest.mark.django_db, pytest.mark.clock]
Status, Channel = Registration.Status, Registration.Channel
DASHBOARD = "/admin/outreach/dashboard/"
ANNUAL = "/admin/outreach/reports/annual/"
PARTNERS = "/admin/outreach/reports/partners/"
FIX = at(2025, 6, 15, 18)  # the fix went live on 15 June 2025, 18:00 in the municipality's time zone


def move_fix(moment: dt.datetime) -> None:
    app, name = FIX_MIGRATION
    assert MigrationRecorder.Migration.objects.filter(app=app, name=name).update(applied=moment) == 1


def booked(session, age_band, *, channel=Channel.WEB, created, status=Status.ATTENDED):
    registration = factories.registration(session_obj=session, participant=factories.participant(age_band=age_band),
                                          status=status, channel=channel)
    Registration.objects.filter(pk=registration.pk).update(created_at=created)
    return registration


@pytest.fixture
def records(site):
    """Partner A and partner B; sessions in FY2024 and FY2025. Possibly defaulted (web or phone, under 20, created
    before FIX), counted by hand:

    FY2024: A's session of 2025-03-31 23:30 (still FY2024 in Japan; 14:30 UTC) — 2 web, 1 phone (cancelled: still a
            registration); B's session of 2024-10-01 — 1 web.                                              = 4
    FY2025: A's session of 2025-04-01 00:30 (FY2025 in Japan; 2025-03-31 15:30 UTC) — 1 web                 = 1
    Not counted: a walk-in under 20, a web booking of 70–74, a web booking under 20 made after FIX (in FY2025),
    an under-20 web booking made one second after FIX."""
    move_fix(FIX)
    a, b = factories.partner(), factories.partner()
    last_of_fy2024 = held_session(a, at(2025, 3, 31, 23) + dt.timedelta(minutes=30))
    first_of_fy2025 = held_session(a, at(2025, 4, 1, 0) + dt.timedelta(minutes=30))
    autumn = held_session(b, at(2024, 10, 1))
    before = FIX - dt.timedelta(days=30)
    booked(last_of_fy2024, "u20", created=before)
    booked(last_of_fy2024, "u20", created=FIX - dt.timedelta(seconds=1))
    booked(last_of_fy2024, "u20", channel=Channel.PHONE, created=before, status=Status.CANCELLED)
    booked(last_of_fy2024, "u20", channel=Channel.WALK_IN, created=before)
    booked(last_of_fy2024, "70-74", created=before)
    booked(autumn, "u20", created=before)
    booked(first_of_fy2025, "u20", created=before)
    booked(first_of_fy2025, "u20", created=FIX + dt.timedelta(seconds=1))
    booked(first_of_fy2025, "u20", created=FIX + dt.timedelta(days=2))
    return {"a": a, "b": b}


def counts(filters: metrics.Filters) -> dict[int, int]:
    return {note.fiscal_year: note.records for note in data_quality.defaulted_age_notes(filters)}


def test_counted_per_fiscal_year_in_one_query(records, django_assert_num_queries):
    with django_assert_num_queries(1):
        notes = data_quality.defaulted_age_notes(metrics.Filters())
    assert [(note.fiscal_year, note.records, note.before) for note in notes] == [(2024, 4, FIX), (2025, 1, FIX)]
    assert counts(metrics.Filters(fiscal_year=2024)) == {2024: 4}
    assert counts(metrics.Filters(fiscal_year=2025)) == {2025: 1}
    assert counts(metrics.Filters(fiscal_year=2025, month=4)) == {2025: 1}
    assert counts(metrics.Filters(fiscal_year=2025, month=5)) == {}
    assert counts(metrics.Filters(fiscal_year=2023)) == {}


def test_the_filters_apply_as_to_the_figures(records):
    a, b = records["a"], records["b"]
    assert counts(metrics.Filters(fiscal_year=2024, scope=frozenset({b.pk}))) == {2024: 1}  # partner staff of B
    assert counts(metrics.Filters(fiscal_year=2024, partner=a.pk)) == {2024: 3}
    assert counts(metrics.Filters(fiscal_year=2024, age_band="65+")) == {}  # no under-20 in these figures
    assert counts(metrics.Filters(fiscal_year=2024, age_band="u20")) == {2024: 4}


def test_none_after_the_fix_or_without_such_records(records):
    move_fix(FIX - dt.timedelta(days=365))  # the fix went live before any of these bookings
    assert data_quality.defaulted_age_notes(metrics.Filters()) == []


def test_no_note_in_an_ordinary_test_database(site):
    """Registrations made now come after the migration was applied (the demo data's case): no note."""
    session = factories.session()
    factories.registration(session_obj=session, participant=factories.participant(age_band="u20"))
    assert data_quality.defaulted_age_notes(metrics.Filters()) == []


def test_the_note_in_both_languages(records):
    [note] = data_quality.defaulted_age_notes(metrics.Filters(fiscal_year=2024))
    with translation.override("ja"):
        assert note.text() == ("2024年度：2025年6月15日 18:00より前にウェブ・電話で受け付けた申込では、"
                               "「答えたくない」が「20歳未満」として記録されている可能性があります（4件）。")
    with translation.override("en"):
        assert note.text() == ("FY2024: web and phone registrations before June 15, 2025 18:00 may count “prefer not "
                               "to say” as under 20 (4 records).")
    [single] = data_quality.defaulted_age_notes(metrics.Filters(fiscal_year=2025))
    with translation.override("en"):
        assert single.text().endswith("as under 20 (1 record).")


@pytest.mark.parametrize("language", ["ja", "en"])
def test_the_dashboard_shows_the_note_of_its_fiscal_year(client, records, language):
    client.force_login(staff("analyst", roles.CITY_ANALYST, language=language))
    body = client.get(f"{DASHBOARD}?fiscal_year=2024").content.decode()
    assert body.count("data-defaulted-ages=") == 1 and 'data-defaulted-ages="2024"' in body
    assert ("（4件）" if language == "ja" else "(4 records)") in body
    assert "data-defaulted-ages" not in client.get(f"{DASHBOARD}?fiscal_year=2023").content.decode()
    move_fix(FIX - dt.timedelta(days=365))
    assert "data-defaulted-ages" not in client.get(f"{DASHBOARD}?fiscal_year=2024").content.decode()


def test_the_home_page_panel_shows_the_note_of_the_current_fiscal_year(client, records):
    """The panel shows the current fiscal year: its registrations made before the fix carry the note."""
    year = metrics.fiscal_year_of(timezone.localdate())
    session = held_session(records["a"], at(year, 4, 2))
    move_fix(timezone.now())
    booked(session, "u20", created=timezone.now() - dt.timedelta(days=1))
    client.force_login(staff("analyst", roles.CITY_ANALYST, language="en"))
    body = client.get("/admin/").content.decode()
    assert f'data-defaulted-ages="{year}"' in body and "(1 record)" in body


def test_partner_staff_see_their_own_records_only(client, records):
    client.force_login(staff("b-manager", roles.PARTNER_MANAGER, records["b"], language="en"))
    body = client.get(f"{DASHBOARD}?fiscal_year=2024").content.decode()
    assert "(1 record)" in body
    body = client.get(f"{ANNUAL}?fiscal_year=2024").content.decode()
    assert "(1 record)" in body


@pytest.mark.parametrize("language", ["ja", "en"])
def test_the_annual_and_partner_reports_show_the_note(client, records, language):
    client.force_login(staff("officer", roles.CITY_PROGRAMME_OFFICER, language=language))
    body = client.get(f"{ANNUAL}?fiscal_year=2024").content.decode()
    assert 'data-defaulted-ages="2024"' in body and ("（4件）" if language == "ja" else "(4 records)") in body
    assert "data-defaulted-ages" not in client.get(f"{ANNUAL}?fiscal_year=2026").content.decode()
    body = client.get(f"{PARTNERS}?fiscal_year=2024&partner={records['a'].pk}").content.decode()
    assert 'data-defaulted-ages="2024"' in body and ("（3件）" if language == "ja" else "(3 records)") in body
    response = client.get(f"/admin/outreach/reports/partners/report.xlsx?fiscal_year=2024&partner={records['a'].pk}")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).worksheets[0]
    notes = [row[1] for row in sheet.iter_rows(values_only=True) if row[0] == ("注記" if language == "ja" else "Note")]
    assert len(notes) == 1 and ("（3件）" if language == "ja" else "(3 records)") in notes[0]


def test_no_note_without_such_records(client, site):
    client.force_login(staff("officer", roles.CITY_PROGRAMME_OFFICER))
    held_session(factories.partner(), at(2024, 10, 1))
    year = metrics.fiscal_year_of(timezone.localdate())
    for url in (f"{DASHBOARD}?fiscal_year=2024", f"{ANNUAL}?fiscal_year=2024", f"{DASHBOARD}?fiscal_year={year}"):
        assert "data-defaulted-ages" not in client.get(url).content.decode()
