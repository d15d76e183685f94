"""Spreadsheets: import a 50,000-row attendance roster from XLSX (preview, then apply; goal: under 20 s together on
PostgreSQL) and export 100,000 registrations as CSV and XLSX, each with its time and peak memory; beside them,
python-calamine and openpyxl reading the same workbook on their own.

Sizes: DEKIRU_BENCH_ATTENDANCE_ROWS (default 50,000; 2% of them walk-ins) and DEKIRU_BENCH_EXPORT_ROWS (default
100,000). Peak memory is tracemalloc's peak of Python allocations during a second run of each step (tracemalloc slows
Python code down, so the times come from a run without it); DEKIRU_BENCH_MEMORY=0 skips those runs. The process's
maximum resident size is printed at the end.
"""

import io
import os
import resource
import time
import tracemalloc
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from cms import roles
from courses import services, spreadsheets
from courses.models import Participant, Registration, Session
from partners.models import Ward
from partners.services import add_membership
from tests import factories

ATTENDANCE_ROWS = int(os.environ.get("DEKIRU_BENCH_ATTENDANCE_ROWS", "50000"))
EXPORT_ROWS = int(os.environ.get("DEKIRU_BENCH_EXPORT_ROWS", "100000"))
MEASURE_MEMORY = os.environ.get("DEKIRU_BENCH_MEMORY", "1") != "0"
PER_SESSION = 25
BATCH = 2000


def _out(line: str) -> None:
    print(line, flush=True)  # noqa: T201


def _timed(func):
    started = time.perf_counter()
    result = func()
    return result, time.perf_counter() - started


def _peak_mb(func) -> float | None:
    if not MEASURE_MEMORY:
        return None
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1] / 1024 / 1024
    finally:
        tracemalloc.stop()


def _report(label: str, seconds: float, peak: float | None, extra: str = "") -> None:
    memory = f", peak {peak:.0f} MB" if peak is not None else ""
    _out(f"{label}: {seconds:.2f} s{memory}{extra}")


def _setup():
    """A partner with sessions that started an hour ago (the roster's) and sessions next month, and EXPORT_ROWS
    registrations, the first ATTENDANCE_ROWS of them on the started sessions."""
    partner = factories.partner()
    course = factories.course(owner=partner)
    venue = factories.venue()
    wards = list(Ward.objects.all())
    now = timezone.now()
    total = max(EXPORT_ROWS, ATTENDANCE_ROWS)
    started = -(-ATTENDANCE_ROWS // PER_SESSION)
    later = -(-(total - ATTENDANCE_ROWS) // PER_SESSION)
    sessions = Session.objects.bulk_create(
        [Session(course=course, organiser=partner, venue=venue, capacity=PER_SESSION,
                 starts_at=now - timedelta(hours=1, seconds=i), ends_at=now + timedelta(hours=1))
         for i in range(started)]
        + [Session(course=course, organiser=partner, venue=venue, capacity=PER_SESSION,
                   starts_at=now + timedelta(days=30, minutes=i), ends_at=now + timedelta(days=30, minutes=i + 90))
           for i in range(later)], batch_size=BATCH)
    bands = [band for band in Participant.AgeBand.values if band]
    registrations = []
    for start in range(0, total, BATCH):
        people = Participant.objects.bulk_create(
            [Participant(name=f"川崎 花子{n}", kana="カワサキ ハナコ", phone=f"090{n:08d}",
                         age_band=bands[n % len(bands)], ward=wards[n % len(wards)])
             for n in range(start, min(start + BATCH, total))])
        batch = [Registration(session=sessions[n // PER_SESSION], participant=person,
                              status=Registration.Status.CONFIRMED)
                 for n, person in zip(range(start, start + len(people)), people, strict=True)]
        services.assign_references(batch)  # distinct booking references: bulk_create cannot retry a row
        created = Registration.objects.bulk_create(batch)
        wanted = max(ATTENDANCE_ROWS - len(registrations), 0)  # ids only: no 100,000 instances held
        registrations += [(registration.pk, registration.session_id) for registration in created[:wanted]]
    user = get_user_model().objects.create_user("bench-spreadsheets")
    user.groups.add(Group.objects.get(name=roles.PARTNER_MANAGER))
    add_membership(partner=partner, user=user, role="manager")
    return get_user_model().objects.get(pk=user.pk), sessions[:started], registrations


def _roster_xlsx(sessions, registrations) -> bytes:
    """The filled-in roster: 98% marks (about 9 in 10 attended), 2% walk-ins, in the export's Japanese columns."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("出欠")
    sheet.append(["申込番号", "開催回の番号", "お名前", "年齢層", "区", "出欠"])
    walk_ins = ATTENDANCE_ROWS // 50
    for n, (pk, session_id) in enumerate(registrations[:ATTENDANCE_ROWS - walk_ins]):
        sheet.append([pk, session_id, f"川崎 花子{n}", "70〜74歳", "中原区", "欠席" if n % 10 == 0 else "出席"])
    for n in range(walk_ins):
        sheet.append([None, sessions[n % len(sessions)].pk, "", "75〜79歳", "宮前区", "出席"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _read_calamine(data: bytes) -> int:
    import python_calamine

    return len(python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0).to_python())


def _read_openpyxl(data: bytes) -> int:
    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(data), read_only=True)
    rows = sum(1 for _row in workbook.worksheets[0].iter_rows(values_only=True))
    workbook.close()
    return rows


def _export(kind: str, fmt: str, user) -> int:
    """Both formats are streamed (courses.spreadsheets.xlsx_chunks for XLSX): the bytes are counted as they come."""
    result = spreadsheets.export(kind, user=user, fmt=fmt)
    return sum(len(chunk) for chunk in result.chunks)


def run() -> None:
    (user, sessions, registrations), setup = _timed(_setup)
    _out(f"setup: {Registration.objects.count():,} registrations in {setup:.1f} s "
         f"(process resident size so far: {_maxrss_mb():.0f} MB)")
    data, seconds = _timed(lambda: _roster_xlsx(sessions, registrations))
    _out(f"roster workbook: {ATTENDANCE_ROWS:,} rows, {len(data) / 1024 / 1024:.1f} MB (written in {seconds:.1f} s)")

    rows, seconds = _timed(lambda: _read_calamine(data))
    _report(f"python-calamine alone, {rows:,} rows", seconds, _peak_mb(lambda: _read_calamine(data)))
    rows, seconds = _timed(lambda: _read_openpyxl(data))
    _report(f"openpyxl (read-only) alone, {rows:,} rows", seconds, _peak_mb(lambda: _read_openpyxl(data)))

    def read():
        return spreadsheets.read_upload(data, filename="roster.xlsx")

    table, seconds = _timed(read)
    _report(f"read_upload (calamine + formula check), {len(table.rows):,} rows", seconds, _peak_mb(read))

    def preview():
        return spreadsheets.preview_import("attendance", read(), user=user)

    report, preview_seconds = _timed(preview)
    assert report.ok, report.errors[:5]
    _report(f"preview (read + dry run): {report.updated:,} marks, {report.new:,} walk-ins", preview_seconds,
            _peak_mb(preview))

    def apply():
        return spreadsheets.apply_import("attendance", read(), user=user, filename="roster.xlsx")

    apply_peak = None
    if MEASURE_MEMORY:
        def apply_rolled_back():
            with transaction.atomic():
                apply()
                transaction.set_rollback(True)

        apply_peak = _peak_mb(apply_rolled_back)
    report, apply_seconds = _timed(apply)
    assert report.changes == ATTENDANCE_ROWS, report
    _report(f"apply (read + import in one transaction): {report.changes:,} rows", apply_seconds, apply_peak)
    total = preview_seconds + apply_seconds
    verdict = "ok" if total < 20 else "OVER the 20 s goal"
    _out(f"preview + apply: {total:.1f} s ({verdict})")

    count = Registration.objects.count()
    for fmt in ("csv", "xlsx"):
        size, seconds = _timed(lambda fmt=fmt: _export("registrations", fmt, user))
        peak = _peak_mb(lambda fmt=fmt: _export("registrations", fmt, user))
        _report(f"export {count:,} registrations as {fmt.upper()}", seconds, peak,
                f", {size / 1024 / 1024:.1f} MB")
    note = " (with tracemalloc's own bookkeeping)" if MEASURE_MEMORY else ""
    _out(f"process maximum resident size: {_maxrss_mb():.0f} MB{note}")


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
