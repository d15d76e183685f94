"""The README's quick start: `make demo` needs no Node.js (axe-core is for the tests only) and serves links for the
port it runs on. Run with a stand-in Python that records what it was asked to do, and an `npm` that fails."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def stand_ins(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "venv").mkdir()
    log = tmp_path / "calls.log"
    python = bin_dir / "python"
    # The demo starts the outbox worker in the background, then the server; the worker is stopped when the server
    # ends, so the stand-in "server" waits a moment for the stand-in worker to be recorded.
    python.write_text(f'#!/bin/sh\necho "$DEKIRU_BASE_URL $*" >> {log}\n'
                      'case "$*" in *runserver*) sleep 1;; esac\n')
    npm = bin_dir / "npm"
    npm.write_text("#!/bin/sh\necho 'npm must not be needed' >&2\nexit 97\n")
    for tool in (python, npm):
        tool.chmod(0o755)
    return bin_dir, log


def make(target, bin_dir, tmp_path, **variables):
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    env.pop("DEKIRU_BASE_URL", None)
    args = [f"{name}={value}" for name, value in variables.items()]
    return subprocess.run(["make", "-s", "-C", str(ROOT), target, f"VENV={tmp_path}/venv", f"PY={bin_dir}/python",
                           *args], env=env, capture_output=True, text=True, timeout=60)


def test_make_demo_needs_no_node_and_links_to_its_own_port(stand_ins, tmp_path):
    bin_dir, log = stand_ins
    result = make("demo", bin_dir, tmp_path, PORT=8123)
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert "http://127.0.0.1:8123 manage.py runserver 127.0.0.1:8123" in calls
    assert "http://127.0.0.1:8123 manage.py seed_demo" in calls
    assert any(call.startswith("http://127.0.0.1:8123 manage.py send_outbox") for call in calls)


def test_a_base_url_given_by_the_environment_wins(stand_ins, tmp_path):
    bin_dir, log = stand_ins
    result = make("demo", bin_dir, tmp_path, DEKIRU_BASE_URL="https://demo.example.jp")
    assert result.returncode == 0, result.stderr
    assert "https://demo.example.jp manage.py runserver 127.0.0.1:8000" in log.read_text().splitlines()


def test_the_tests_do_install_axe(stand_ins, tmp_path):
    bin_dir, _log = stand_ins
    result = subprocess.run(["make", "-n", "-B", "-C", str(ROOT), "test"], capture_output=True, text=True,
                            timeout=60)
    assert "npm ci" in result.stdout
