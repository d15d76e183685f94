"""The test clock (time-machine): no test may depend on today's date.

`pytest --clock-offset-days N` (tests/conftest.py) moves the clock of the whole run N days ahead of the real date,
ticking, so that a test written against today's calendar fails there; CI runs the tests marked `clock` a second
time a year ahead (`make test-clock`). Each pytest-xdist worker applies the option itself (pytest_configure runs in
every worker). The run also exports DEKIRU_CLOCK_OFFSET_DAYS, and the Python processes the tests start
(tests/courses/race_worker.py, outbox_worker.py, the attendance worker) call follow_the_test_run() first, so they
see the same date as the test that started them.

Only Python's clock moves: the database's NOW() (the application never uses it), Chromium's JavaScript clock (no
page script reads it) and other programs keep the real date.
"""

import datetime as dt
import os

import time_machine

ENV = "DEKIRU_CLOCK_OFFSET_DAYS"

_offset: time_machine.travel | None = None


def start_offset(days: int) -> None:
    """Move this process's clock `days` days ahead of the real time; it keeps ticking. Once per process."""
    global _offset
    if not days or _offset is not None:
        return
    # A timedelta: the real time now plus the offset, with no time zone given, so time-machine leaves TZ alone.
    _offset = time_machine.travel(dt.timedelta(days=days), tick=True)
    _offset.start()


def stop_offset() -> None:
    global _offset
    if _offset is not None:
        _offset.stop()
        _offset = None


def offset_days() -> int:
    return int(os.environ.get(ENV) or 0)


def follow_the_test_run() -> None:
    """In a process started by a test: the clock of the test run that started it (DEKIRU_CLOCK_OFFSET_DAYS)."""
    start_offset(offset_days())


def frozen_at(moment: dt.datetime, *, tick: bool = False) -> time_machine.travel:
    """The clock set to `moment` (an aware datetime), stopped unless tick=True, as a context manager or decorator.
    It nests inside the run's offset (time-machine keeps a stack) and leaves the process's TZ alone (it is given a
    timestamp, not a zone)."""
    if moment.tzinfo is None:
        raise ValueError("frozen_at needs an aware datetime")
    return time_machine.travel(moment.timestamp(), tick=tick)
