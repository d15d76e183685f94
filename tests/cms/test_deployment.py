"""The production settings as a deployment gets them: each test starts a process of its own with the environment
a server would have (settings load once per process), as docs/deployment.md describes.

- `manage.py check --deploy` finds nothing;
- no secret key or allowed hosts: the process refuses to start;
- REDIS_URL and DEKIRU_S3_BUCKET switch the cache, the sessions and the media storage; sentry-sdk (optional) is set
  up without personal data when SENTRY_DSN is set;
- collectstatic builds WhiteNoise's compressed, hashed files, and the app serves them;
- DEKIRU_LOG_FORMAT=json writes one JSON object per line, without tokens or query strings.
"""

import json
import os
import runpy
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
SECRET = "deployment-test-secret-" + "k" * 40
NOWHERE = "postgres://dekiru@127.0.0.1:9/deploy_nowhere"


def production_env(**overrides) -> dict[str, str]:
    """The environment of a production server: our variables only, none inherited from the test run."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("DJANGO_", "DEKIRU_", "DATABASE_", "REDIS_", "SENTRY_", "SENDGRID_"))}
    # A database nobody answers at: these processes must not need one (and must not create db.sqlite3).
    env.update(DJANGO_SETTINGS_MODULE="cms.settings.production", DJANGO_SECRET_KEY=SECRET,
               DJANGO_ALLOWED_HOSTS="dekiru.example.jp", DATABASE_URL=NOWHERE)
    env.update(overrides)
    return {name: value for name, value in env.items() if value is not None}


def run(args: list[str], env: dict[str, str], timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, cwd=BASE_DIR, capture_output=True, text=True, timeout=timeout)


def python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return run([sys.executable, "-c", code], env)


def last_json_line(text: str):
    return json.loads(text.strip().splitlines()[-1])


# --- check --deploy and refusing to start -----------------------------------------------------------------------


def test_deploy_checks_are_clean_with_production_settings():
    result = run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_deploy_checks_warn_when_city_administrators_may_skip_two_factor():
    result = run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                 production_env(DEKIRU_2FA_REQUIRED_ROLES="Partner manager"))
    assert result.returncode != 0
    assert "dekiru.W001" in result.stderr + result.stdout


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS"])
def test_production_settings_refuse_to_start_without(missing):
    result = python("import cms.settings.production", production_env(**{missing: None}))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and missing in result.stderr


# --- Backends chosen by the environment -------------------------------------------------------------------------


# One production process (with JSON logs) answers the questions of several tests: settings load once per process.
SERVER_SCRIPT = """
import json, logging, django
django.setup()
from django.conf import settings
from cms.settings.production import scrub_sentry_event

names = ["CACHES", "SESSION_ENGINE", "STORAGES", "MIDDLEWARE", "SECURE_REDIRECT_EXEMPT", "DEBUG",
         "WAGTAILADMIN_BASE_URL"]
out = {"settings": {name: getattr(settings, name) for name in names}}

logging.getLogger("django.request").warning("Not Found: %s", "/registrations/WzEsImsiXQ:1abcDEF/cancel/?email=a@b.jp")
logging.getLogger("courses").info("queued %d reminders", 3)
try:
    raise ValueError("bad row")
except ValueError:
    logging.getLogger("cms").exception("import failed for https://dekiru.example.jp/check/abc:def/?t=1")
logging.getLogger("courses").error("Key (to_email)=(hanako.yamada+1@example.co.jp) already exists")

event = {
    "request": {"url": "https://dekiru.example.jp/registrations/WzEsImsiXQ:1abc/cancel/?email=a@b.jp",
                "query_string": "email=a@b.jp", "data": {"name": "山田花子"}, "cookies": {"sessionid": "s"},
                "headers": {"Cookie": "sessionid=s", "User-Agent": "UA", "Referer": "https://x/?t=1"},
                "env": {"REMOTE_ADDR": "203.0.113.9"}},
    "user": {"ip_address": "203.0.113.9"},
    "transaction": "/registrations/WzEsImsiXQ:1abc/cancel/",
    "logentry": {"message": "Not Found: /check/abc:def/", "params": ["山田花子"]},
    "breadcrumbs": {"values": [{"category": "query", "message": "SELECT 1", "data": {"params": ["山田花子"]}}]},
    "exception": {"values": [{"type": "IntegrityError", "value": "Key (to_email)=(hanako@example.jp) exists",
                              "stacktrace": {"frames": [{"function": "register", "vars": {"name": "山田花子"}}]}}]},
}
out["scrubbed"] = scrub_sentry_event(event)
print(json.dumps(out, ensure_ascii=False, default=str))
"""


@pytest.fixture(scope="module")
def server():
    result = python(SERVER_SCRIPT, production_env(DEKIRU_LOG_FORMAT="json"))
    assert result.returncode == 0, result.stderr
    logs = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    return {**last_json_line(result.stdout), "logs": logs, "stdout": result.stdout, "stderr": result.stderr}


def test_defaults_keep_no_local_state_but_the_optional_media_directory(server):
    values = server["settings"]
    assert values["CACHES"]["default"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"
    assert values["SESSION_ENGINE"] == "django.contrib.sessions.backends.db"
    assert values["STORAGES"]["default"]["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert values["STORAGES"]["staticfiles"]["BACKEND"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    assert values["MIDDLEWARE"][:2] == ["django.middleware.security.SecurityMiddleware",
                                        "whitenoise.middleware.WhiteNoiseMiddleware"]
    assert values["SECURE_REDIRECT_EXEMPT"] == ["^healthz$", "^readyz$"]
    assert values["DEBUG"] is False
    assert values["WAGTAILADMIN_BASE_URL"] == "https://dekiru.example.jp"  # e-mail links: the public address


SETTINGS_ONLY = """
import importlib, json
settings = importlib.import_module("cms.settings.production")
values = {name: getattr(settings, name) for name in %r}
print(json.dumps(values, default=str))
"""


def test_redis_s3_and_tunables_come_from_the_environment():
    env = production_env(
        REDIS_URL="redis://cache.internal:6379/2", DEKIRU_S3_BUCKET="dekiru-media",
        DEKIRU_S3_ENDPOINT_URL="https://s3.example.jp", DEKIRU_S3_REGION="ap-northeast-1",
        DEKIRU_S3_ACCESS_KEY_ID="AKIAEXAMPLE", DEKIRU_S3_SECRET_ACCESS_KEY="secret",
        DEKIRU_HEARTBEAT_MAX_AGE_MINUTES="send_reminders=90,purge_personal_data=off",
        DEKIRU_REMINDER_LEAD_HOURS="36", DEKIRU_SUPPRESSION_THRESHOLD="5", DATABASE_CONNECT_TIMEOUT="3",
        DATABASE_URL="postgres://dekiru@db.internal:5432/dekiru", DEKIRU_BASE_URL="https://classes.example.jp",
    )
    # The settings module alone, without django.setup(): the S3 backend itself (boto3) is an optional extra.
    names = ["CACHES", "SESSION_ENGINE", "STORAGES", "DEKIRU_HEARTBEATS", "DEKIRU_REMINDER_LEAD_HOURS",
             "DEKIRU_SUPPRESSION_THRESHOLD", "DATABASES", "WAGTAILADMIN_BASE_URL"]
    result = python(SETTINGS_ONLY % (names,), env)
    assert result.returncode == 0, result.stderr
    values = last_json_line(result.stdout)
    assert values["CACHES"]["default"] == {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                           "LOCATION": "redis://cache.internal:6379/2"}
    assert values["SESSION_ENGINE"] == "django.contrib.sessions.backends.cached_db"
    media = values["STORAGES"]["default"]
    assert media["BACKEND"] == "storages.backends.s3.S3Storage"
    assert {key: media["OPTIONS"][key] for key in ("bucket_name", "endpoint_url", "region_name", "access_key",
                                                    "querystring_auth", "file_overwrite")} == {
        "bucket_name": "dekiru-media", "endpoint_url": "https://s3.example.jp", "region_name": "ap-northeast-1",
        "access_key": "AKIAEXAMPLE", "querystring_auth": True, "file_overwrite": False}
    assert values["DEKIRU_HEARTBEATS"]["send_reminders"] == 90
    assert values["DEKIRU_HEARTBEATS"]["purge_personal_data"] is None
    assert values["DEKIRU_HEARTBEATS"]["sweep_outbox"] == 20
    assert values["DEKIRU_REMINDER_LEAD_HOURS"] == 36 and values["DEKIRU_SUPPRESSION_THRESHOLD"] == 5
    assert values["DATABASES"]["default"]["OPTIONS"]["connect_timeout"] == 3
    assert values["WAGTAILADMIN_BASE_URL"] == "https://classes.example.jp"


# A local address: sentry-sdk sends nothing while nothing goes wrong.
SENTRY_DSN = "http://public@127.0.0.1:9/1"


def test_sentry_is_set_up_without_personal_data_when_a_dsn_is_given():
    pytest.importorskip("sentry_sdk")
    code = """
import importlib, json
import sentry_sdk
importlib.import_module("cms.settings.production")
options = sentry_sdk.get_client().options
print(json.dumps({"pii": options["send_default_pii"], "locals": options["include_local_variables"],
                  "body": options["max_request_body_size"], "before_send": options["before_send"].__name__}))
"""
    result = python(code, production_env(SENTRY_DSN=SENTRY_DSN))
    assert result.returncode == 0, result.stderr
    assert last_json_line(result.stdout) == {"pii": False, "locals": False, "body": "never",
                                             "before_send": "scrub_sentry_event"}


def test_a_dsn_without_sentry_sdk_stops_the_start():
    code = "import sys; sys.modules['sentry_sdk'] = None; import cms.settings.production"
    result = python(code, production_env(SENTRY_DSN=SENTRY_DSN))
    assert result.returncode != 0 and "sentry-sdk is not installed" in result.stderr


# --- Static files -----------------------------------------------------------------------------------------------


def test_collectstatic_builds_hashed_compressed_files_that_the_app_serves(tmp_path):
    static_root = tmp_path / "static"
    env = production_env(DJANGO_STATIC_ROOT=str(static_root), DJANGO_ALLOWED_HOSTS="testserver")
    # Without brotli (when installed, WhiteNoise also writes .br files, at several times the cost): gzip is enough
    # to prove the compression, and keeps this test fast.
    code = """
import json, sys
sys.modules["brotli"] = None
import django
django.setup()
from django.core.management import call_command
from django.templatetags.static import static
from django.test import Client
call_command("collectstatic", "--noinput", verbosity=0)
url = static("css/dekiru.css")
response = Client().get(url, HTTP_X_FORWARDED_PROTO="https", HTTP_ACCEPT_ENCODING="gzip")
print(json.dumps({"url": url, "status": response.status_code, "encoding": response.get("Content-Encoding"),
                  "cache": response.get("Cache-Control")}))
"""
    result = python(code, env)
    assert result.returncode == 0, result.stderr
    served = last_json_line(result.stdout)
    manifest = json.loads((static_root / "staticfiles.json").read_text())
    hashed = manifest["paths"]["css/dekiru.css"]
    assert hashed != "css/dekiru.css" and served["url"] == f"/static/{hashed}"
    assert (static_root / hashed).is_file() and (static_root / f"{hashed}.gz").is_file()
    assert "wagtailadmin/css/core.css" in manifest["paths"]  # the admin's files too
    assert served["status"] == 200 and served["encoding"] == "gzip"
    assert "immutable" in served["cache"]


# --- Logs and error reports -------------------------------------------------------------------------------------


def test_json_logs_carry_no_tokens_or_query_strings(server):
    lines = server["logs"]
    assert [(line["level"], line["logger"]) for line in lines] == [
        ("WARNING", "django.request"), ("INFO", "courses"), ("ERROR", "cms"), ("ERROR", "courses")]
    assert lines[0]["message"] == "Not Found: /registrations/[token]/cancel/"
    assert lines[1]["message"] == "queued 3 reminders"
    assert lines[2]["message"] == "import failed for https://dekiru.example.jp/check/[token]/"
    assert "ValueError: bad row" in lines[2]["exception"]
    assert lines[3]["message"] == "Key (to_email)=([email]) already exists"
    assert "WzEsImsiXQ" not in server["stderr"] and "a@b.jp" not in server["stderr"]


def test_error_reports_lose_request_bodies_cookies_users_and_tokens(server):
    event = server["scrubbed"]
    assert event["request"] == {"url": "https://dekiru.example.jp/registrations/[token]/cancel/",
                                "headers": {"User-Agent": "UA"}}
    assert "user" not in event and event["transaction"] == "/registrations/[token]/cancel/"
    assert event["logentry"] == {"message": "Not Found: /check/[token]/"}
    assert event["breadcrumbs"]["values"] == [{"category": "query", "message": "SELECT 1"}]
    assert event["exception"]["values"] == [{"type": "IntegrityError", "value": "Key (to_email)=([email]) exists",
                                             "stacktrace": {"frames": [{"function": "register"}]}}]
    assert "山田" not in json.dumps(event, ensure_ascii=False)


# --- gunicorn ---------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_gunicorn_serves_with_the_repository_config_and_logs_no_query_strings_or_tokens():
    port = free_port()
    env = production_env(GUNICORN_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="1", DJANGO_ALLOWED_HOSTS="127.0.0.1")
    server = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py"], cwd=BASE_DIR,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz?probe=1", timeout=5) as response:
                    assert response.status == 200
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "gunicorn did not start"
                time.sleep(0.3)
        # No database here: the page fails, and Django logs the error with its path, redacted like the access log.
        url = f"http://127.0.0.1:{port}/registrations/WzEsImsiXQ:1abcDEF/?email=a@b.jp"
        headers = {"Referer": "https://example.jp/?t=secret", "X-Forwarded-Proto": "https"}
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10)
    finally:
        server.terminate()
        stdout, stderr = server.communicate(timeout=30)
    access = [line for line in stdout.splitlines() if '"GET ' in line]
    assert access and access[0].split('"')[1] == "GET /healthz HTTP/1.1", stdout
    assert any('"GET /registrations/[token]/ HTTP/1.1"' in line for line in access), stdout
    assert "ERROR django.request Internal Server Error: /registrations/[token]/" in stderr
    assert "WzEsImsiXQ" not in stdout + stderr and "a@b.jp" not in stdout + stderr and "secret" not in stdout
    assert "probe=1" not in stdout and "127.0.0.1 " not in stdout


def test_gunicorn_json_access_lines(monkeypatch, capsys):
    from gunicorn.config import Config

    monkeypatch.setenv("DEKIRU_LOG_FORMAT", "json")
    conf = runpy.run_path(str(BASE_DIR / "gunicorn.conf.py"))
    cfg = Config()
    cfg.set("accesslog", "-")
    logger = conf["RedactingLogger"](cfg)
    response = SimpleNamespace(status="200 OK", sent=42, headers=[])
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": "/check/abc:def/?t=1", "PATH_INFO": "/check/abc:def/",
               "QUERY_STRING": "t=1", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "203.0.113.9",
               "HTTP_REFERER": "https://example.jp/?t=1", "HTTP_COOKIE": "sessionid=s"}
    logger.access(response, SimpleNamespace(headers=[("COOKIE", "sessionid=s")]), environ,
                  timedelta(milliseconds=12))
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line | {"time": None} == {"time": None, "level": "INFO", "logger": "gunicorn.access", "method": "GET",
                                     "path": "/check/[token]/", "status": 200, "bytes": 42, "duration_ms": 12}
