"""Check-in by QR in Chromium, with a camera: Chromium's fake capture device plays a .y4m file made here from the
resident's real QR (courses.checkin.qr_png, the same code as on their page, e-mail and slip). One scan on the
tablet roster marks them attended on the server and the screen says so; scanning on (the code stays in front of the
camera) is harmless; and when the request cannot reach the server the screen says so and nothing is shown as done.

The scan-to-mark round trip (code decoded in the page → the server's answer shown) is printed:
    .venv/bin/python -m pytest -s -m e2e tests/e2e/test_checkin_browser.py
"""

import io
import time
from datetime import timedelta

import pytest
from PIL import Image
from wagtail.models import ModelLogEntry

from courses import checkin
from courses.models import Registration
from tests import factories
from tests.e2e.conftest import CHROMIUM, admin_login
from tests.e2e.test_roster_tablet import TABLET_PORTRAIT, instructor

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.clock]

WIDTH, HEIGHT = 640, 480
QR_SIZE = 400


def write_y4m(png: bytes, path, *, frames: int = 10) -> None:
    """A YUV4MPEG2 video of `frames` identical frames: the QR, black on white, in the middle of a 640 × 480 picture.
    Y4M is a one-line text header, then per frame "FRAME\\n" and the raw planes of 4:2:0 YUV: the luma (the grey
    picture, one byte a pixel) and two chroma planes of a quarter its size (128: no colour)."""
    qr = Image.open(io.BytesIO(png)).convert("L").resize((QR_SIZE, QR_SIZE), Image.NEAREST)
    picture = Image.new("L", (WIDTH, HEIGHT), 255)
    picture.paste(qr, ((WIDTH - QR_SIZE) // 2, (HEIGHT - QR_SIZE) // 2))
    luma = picture.tobytes()
    chroma = bytes([128]) * (WIDTH // 2 * HEIGHT // 2)
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F15:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for _ in range(frames):
            out.write(b"FRAME\n" + luma + chroma + chroma)


@pytest.fixture
def door(site):
    partner = factories.partner()
    course = factories.course(owner=partner, title="スマホで写真を撮ろう", title_en="Taking photos")
    session = factories.session(course_page=course, organiser=partner, starts_in=timedelta(0), capacity=5)
    haruko = factories.registration(session_obj=session, participant=factories.participant(
        name="中原 春子", kana="ナカハラ ハルコ"))
    factories.registration(session_obj=session, participant=factories.participant(name="高津 ハナ"))
    instructor(partner)
    return {"session": session, "haruko": haruko}


@pytest.fixture
def camera_page(browser, tmp_path, door, live_server):
    """A tablet page of a Chromium whose camera shows Haruko's QR, signed in as the instructor, on the roster: a
    second Chromium started by the session's Playwright (the fake camera's file is a launch flag)."""
    video = tmp_path / "haruko-qr.y4m"
    write_y4m(checkin.qr_png(door["haruko"]), video)
    with_camera = browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=[
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
        "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={video}",
        "--use-fake-ui-for-media-stream"])
    context = with_camera.new_context(viewport=TABLET_PORTRAIT, locale="ja-JP", has_touch=True)
    context.grant_permissions(["camera"], origin=live_server.url)
    context.set_default_timeout(15000)
    page = context.new_page()
    page.csp_violations = []
    page.on("console", lambda message: "Content Security Policy" in message.text
            and page.csp_violations.append(message.text))
    admin_login(page, live_server, "instructor", "at-the-door-1")
    page.goto(f"{live_server.url}/admin/roster/{door['session'].pk}/")
    yield page
    context.close()
    with_camera.close()


RESULT = "[data-checkin-result]"


def test_one_scan_of_the_residents_qr_marks_them_attended(camera_page, door, live_server, record_property):
    page, haruko = camera_page, door["haruko"]
    badge = page.locator(f"#person-{haruko.pk} .roster-status")
    assert badge.inner_text() == "Not marked yet"

    started = time.monotonic()
    page.get_by_role("button", name="Scan a QR code with the camera").click()
    page.wait_for_selector(f"{RESULT}[data-kind=marked]")
    seconds = time.monotonic() - started

    result = page.locator(RESULT)
    assert "中原 春子: checked in for Taking photos" in result.inner_text()
    assert float(page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('[data-checkin-result]'))"
                               ".fontSize)")) >= 24  # large type
    assert badge.inner_text() == "Attended"
    assert page.locator("[data-summary=attended]").inner_text() == "1"
    haruko.refresh_from_db()
    assert haruko.status == Registration.Status.ATTENDED  # the server recorded it
    round_trip = int(result.get_attribute("data-round-trip-ms"))
    first_read = int(result.get_attribute("data-first-read-ms"))
    record_property("scan_to_mark_ms", round_trip)
    figure = (f"scan-to-mark round trip: {round_trip} ms (code decoded → answer shown); camera start → first read "
              f"{first_read} ms; button press → marked on screen {seconds * 1000:.0f} ms")
    print(f"\n{figure}")  # noqa: T201 — the figure for the closing note

    # The code stays in front of the camera: it is read again after a few seconds, harmlessly.
    page.wait_for_selector(f"{RESULT}[data-kind=already_marked]", timeout=15000)
    assert "already checked in" in result.inner_text()
    assert ModelLogEntry.objects.filter(object_id=str(haruko.pk), action="courses.registration.attended").count() == 1

    page.reload()  # what the server holds, not what the script wrote
    assert page.locator(f"#person-{haruko.pk} .roster-status").inner_text() == "Attended"
    assert not page.csp_violations  # the decoder and the script run under the admin's policy

    # The resident's page shows the same code, under the public site's strict policy.
    other = factories.registration(session_obj=door["session"], participant=factories.participant(name="多摩 三郎"))
    page.goto(live_server.url + other.get_manage_url())
    image = page.locator(".checkin-qr img")
    assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    assert not page.csp_violations


def test_a_scan_that_cannot_reach_the_server_says_so(camera_page, door):
    page, haruko = camera_page, door["haruko"]
    page.route("**/check-in/", lambda route: route.abort("internetdisconnected"))
    page.get_by_role("button", name="Scan a QR code with the camera").click()
    page.wait_for_selector(f"{RESULT}[data-kind=unreachable]")
    assert "did not reach the server" in page.locator(RESULT).inner_text()
    assert page.locator(f"#person-{haruko.pk} .roster-status").inner_text() == "Not marked yet"
    haruko.refresh_from_db()
    assert haruko.status == Registration.Status.CONFIRMED

    # The typed reference is the fallback: it says the same while the network is down ...
    page.get_by_role("button", name="Stop the camera").click()
    page.get_by_label("Booking reference (8 digits)").fill(haruko.reference_display)
    page.locator("[data-checkin-result]").evaluate("e => { e.dataset.kind = ''; }")
    page.get_by_role("button", name="Check in", exact=True).click()
    page.wait_for_selector(f"{RESULT}[data-kind=unreachable]")
    # ... and checks in once it is back.
    page.unroute("**/check-in/")
    page.get_by_role("button", name="Check in", exact=True).click()
    page.wait_for_selector(f"{RESULT}[data-kind=marked]")
    haruko.refresh_from_db()
    assert haruko.status == Registration.Status.ATTENDED
