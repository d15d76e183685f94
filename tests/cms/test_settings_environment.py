"""Every setting docs/deployment.md documents can be set from the environment: a documented variable that nothing
reads is a setting an operator believes they changed (the Twilio credentials were documented before they were read)."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def documented() -> set[str]:
    table = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `(DEKIRU_[A-Z0-9_]+)`", table, flags=re.MULTILINE))


def test_every_documented_dekiru_setting_is_read_from_the_environment():
    settings_text = "".join(path.read_text(encoding="utf-8") for path in (ROOT / "cms" / "settings").glob("*.py"))
    names = documented()
    assert len(names) > 20
    assert sorted(name for name in names if f'"{name}"' not in settings_text) == []


def shell(code: str, **env) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("DEKIRU_")}
    environment.update(DJANGO_SETTINGS_MODULE="cms.settings.dev", **env)
    return subprocess.run([sys.executable, "-c", "import django; django.setup(); " + code], cwd=ROOT,
                          env=environment, capture_output=True, text=True, timeout=120)


def test_values_come_from_the_environment_with_their_types():
    done = shell("from django.conf import settings as s; "
                 "print(s.DEKIRU_TWILIO_FROM, s.DEKIRU_TWILIO_TIMEOUT, s.DEKIRU_STAFFING_WARNING_DAYS, "
                 "s.DEKIRU_OVERLOAD_LOCK_WAIT_MS)",
                 DEKIRU_TWILIO_FROM="+815012345678", DEKIRU_TWILIO_TIMEOUT="7.5", DEKIRU_STAFFING_WARNING_DAYS="21",
                 DEKIRU_OVERLOAD_LOCK_WAIT_MS="2500")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["+815012345678", "7.5", "21", "2500"]


def test_unset_means_the_modules_own_default():
    done = shell("from django.conf import settings as s; print(hasattr(s, 'DEKIRU_STAFFING_WARNING_DAYS'))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_a_value_of_the_wrong_type_stops_the_start_up_with_its_name():
    done = shell("print('started')", DEKIRU_LISTING_COUNT_LIMIT="lots")
    assert done.returncode != 0
    assert "DEKIRU_LISTING_COUNT_LIMIT" in done.stderr and "started" not in done.stdout
