"""The spreadsheet pages in Chromium on a 10-inch tablet held upright (800 × 1280): a partner manager imports a
term's timetable and an instructor a filled-in roster (upload → preview → confirm), then downloads the roster.
No page may scroll sideways; buttons are at least 44 px. Skipped where Chromium is absent (tests/conftest.py)."""

import csv
import importlib
import io
import os
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from wagtail.users.models import UserProfile

from cms import roles
from courses.models import Registration, Session
from partners.services import add_membership
from tests import factories
from tests.courses.test_spreadsheets import SESSION_HEADERS_JA, csv_bytes, future_day, xlsx_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.clock]

TABLET_PORTRAIT = {"width": 800, "height": 1280}
MIN_TARGET = 44
SCREENSHOTS = os.environ.get("DEKIRU_SCREENSHOTS")
OVERFLOW = "() => document.documentElement.scrollWidth <= window.innerWidth"
BUTTONS = """() => [...document.querySelectorAll('main button, main a.button, main input[type=file]')]
    .filter(e => e.getBoundingClientRect().width > 0)
    .map(e => ({text: (e.innerText || e.name).trim().slice(0, 30), h: e.getBoundingClientRect().height}))"""


def member(partner, role: str, username: str):
    # Transactional tests flush the database, groups from data migrations included: recreate the roles.
    importlib.import_module("cms.migrations.0003_roles").create_roles(apps)
    user = get_user_model().objects.create_user(username=username, password="spreadsheets-1")
    user.groups.add(Group.objects.get(name=role))
    add_membership(partner=partner, user=user, role="instructor" if role == roles.PARTNER_INSTRUCTOR else "manager")
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = "en"
    profile.save()
    return user


def log_in(browser, live_server, username):  # noqa: F811  (the browser fixture)
    context = browser.new_context(viewport=TABLET_PORTRAIT, locale="ja-JP", has_touch=True, accept_downloads=True)
    context.set_default_timeout(15000)
    page = context.new_page()
    page.goto(live_server.url + "/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "spreadsheets-1")
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(live_server.url + "/admin/")
    return context, page


def layout_problems(page, where: str) -> list[str]:
    if SCREENSHOTS:
        os.makedirs(SCREENSHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SCREENSHOTS, f"spreadsheets-{where}.png"), full_page=True)
    problems = []
    if not page.evaluate(OVERFLOW):
        problems.append(f"{where}: scrolls sideways")
    problems += [f"{where}: {b['text']!r} is {b['h']:.0f}px high" for b in page.evaluate(BUTTONS)
                 if b["h"] < MIN_TARGET]
    return problems


def upload_and_confirm(page, live_server, kind: str, name: str, data: bytes, mime: str) -> list[str]:
    page.goto(f"{live_server.url}/admin/spreadsheets/")
    page.locator(f"a[href='/admin/spreadsheets/import/{kind}/']").click()
    problems = layout_problems(page, f"import-{kind}")
    page.set_input_files("#id_file", files=[{"name": name, "mimeType": mime, "buffer": data}])
    page.get_by_role("button", name="Check the file").click()
    page.wait_for_load_state()
    problems += layout_problems(page, f"preview-{kind}")
    page.locator("form[action$='/confirm/'] button").click()
    page.wait_for_load_state()
    assert "Imported" in page.locator(".messages").inner_text()
    return problems


def test_a_manager_and_an_instructor_import_and_export_on_a_tablet(live_server, browser, site):  # noqa: F811
    partner = factories.partner()
    factories.course(owner=partner, title="スマホ入門")
    factories.venue(name="中原市民館")
    started = factories.session(course_page=factories.course(owner=partner), starts_in=-timedelta(hours=1))
    booked = [factories.registration(session_obj=started) for _ in range(2)]
    member(partner, roles.PARTNER_MANAGER, "manager")
    member(partner, roles.PARTNER_INSTRUCTOR, "instructor")
    day = future_day(30)
    timetable = csv_bytes([SESSION_HEADERS_JA, ["", "スマホ入門", "中原市民館", day.isoformat(), "10:00", "11:30", 12],
                           ["", "スマホ入門", "中原市民館", day.isoformat(), "14:00", "15:30", 12]], "cp932")
    roster = xlsx_bytes([["申込番号", "出欠"], [booked[0].pk, "○"], [booked[1].pk, "×"]])

    problems = []
    context, page = log_in(browser, live_server, "manager")
    try:
        page.goto(f"{live_server.url}/admin/spreadsheets/")
        problems += layout_problems(page, "index")
        problems += upload_and_confirm(page, live_server, "sessions", "term.csv", timetable, "text/csv")
    finally:
        context.close()
    assert Session.objects.filter(course__title="スマホ入門").count() == 2

    context, page = log_in(browser, live_server, "instructor")
    try:
        problems += upload_and_confirm(page, live_server, "attendance", "roster.xlsx", roster,
                                       "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        page.goto(f"{live_server.url}/admin/spreadsheets/export/attendance/")
        problems += layout_problems(page, "export")
        page.check("input[name=format][value=csv]")
        with page.expect_download() as download_info:
            page.get_by_role("button", name="Download").click()
        download = download_info.value
        assert download.suggested_filename.startswith("dekiru-attendance-")
        rows = list(csv.reader(io.StringIO(open(download.path(), encoding="utf-8-sig").read())))
    finally:
        context.close()
    assert not problems, "\n".join(problems)
    assert [Registration.objects.get(pk=r.pk).status for r in booked] == ["attended", "no_show"]
    assert {int(row[0]) for row in rows[1:]} == {r.pk for r in booked}
