"""The side-by-side ratios of issue 18, measured in one run on one machine (scripts/loadtest.sh ratios):

  pages          /classes/ and a course page, requests/s ÷ /healthz requests/s on the same gunicorn (wrk, closed loop,
                 the same connections; /healthz is measured before and after the pages and averaged, so a drift of
                 the machine's load shows as the difference of the two)
  registrations  whole registrations over HTTP per second (the form GET, the review POST, the final POST, as a
                 browser sends them, by CONCURRENCY residents in a closed loop) ÷ pgbench transactions per second of
                 the same transaction (loadtest/registration.pgbench: the statements of the final POST) with the
                 same number of clients, on the same database

Every answer is checked: a page must be 200, a registration must end in a 302 to its confirmation page; anything else
counts as an error and is reported (a run with errors measured nothing).

Usage (scripts/loadtest.sh starts gunicorn and prepares the sessions):
  python loadtest/ratios.py --host http://127.0.0.1:8101 --pgurl postgres://postgres@127.0.0.1:5432/loadtest \
      --run http-run.json --pgbench-run pgbench-run.json --out DIR [--seconds 15] [--concurrency 8]
Writes DIR/ratios.json and prints a table.
"""

import argparse
import html
import http.client
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from formfill import form_choices, pick  # noqa: E402

HERE = Path(__file__).resolve().parent
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CSRF_COOKIE = re.compile(r"csrftoken=([A-Za-z0-9]+)")
INPUT = re.compile(r"<input[^>]*>")
NAME = re.compile(r'name="([^"]*)"')
VALUE = re.compile(r'value="([^"]*)"')
WRK_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
WRK_BAD = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
WRK_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
PGBENCH_TPS = re.compile(r"tps = ([\d.]+) \(without initial connection time\)")
PGBENCH_FAILED = re.compile(r"number of failed transactions: (\d+)")


def emit(line: str, stream=sys.stdout) -> None:
    stream.write(line + "\n")


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- Pages: wrk ---------------------------------------------------------------------------------------------------

def wrk(url: str, seconds: int, connections: int) -> dict:
    """Requests/s of GET url with `connections` connections, every answer required to be 2xx/3xx."""
    before = loadavg()
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency",
         "-H", "X-Forwarded-Proto: https", "-H", "Accept-Language: ja", url],
        capture_output=True, text=True, check=True).stdout
    rate = float(WRK_RATE.search(out).group(1))
    bad = int(m.group(1)) if (m := WRK_BAD.search(out)) else 0
    errors = sum(int(x) for x in m.groups()) if (m := WRK_ERRORS.search(out)) else 0
    return {"url": url, "rps": rate, "non_2xx": bad, "socket_errors": errors, "load_before": before,
            "load_after": loadavg()}


# --- Registrations over HTTP ----------------------------------------------------------------------------------------

class Resident:
    """One browser: GET the form, POST it (the review page), POST the review's hidden fields with step=register."""

    def __init__(self, host: str, sessions: list[dict], prefix: str, run: str, worker: int):
        self.netloc = urlsplit(host).netloc
        self.sessions, self.prefix, self.worker = sessions, prefix, worker
        self.run = f"{run}{secrets.token_hex(2)}"  # a second measurement on the same run file registers new people
        self.headers = {"X-Forwarded-Proto": "https", "Origin": f"https://{self.netloc}", "Accept-Language": "ja"}

    def request(self, method: str, path: str, body: str | None = None, headers: dict | None = None):
        connection = http.client.HTTPConnection(self.netloc, timeout=60)  # gunicorn's sync workers close it anyway
        try:
            connection.request(method, path, body=body, headers={**self.headers, **(headers or {})})
            response = connection.getresponse()
            return response.status, response.getheader("Location", ""), response.getheader("Set-Cookie", ""), \
                response.read().decode("utf-8", "replace")
        finally:
            connection.close()

    def register(self, n: int) -> str:
        """One whole registration; returns "" when it ended on the confirmation page, else what went wrong."""
        path = self.sessions[n % len(self.sessions)]["register_path"]
        status, _, cookie_header, page = self.request("GET", path)
        token, cookie = CSRF_FIELD.search(page), CSRF_COOKIE.search(cookie_header)
        if status != 200 or not token or not cookie:
            return f"form: HTTP {status}"
        choices = form_choices(page)
        data = {
            "csrfmiddlewaretoken": token.group(1), "booking_for": "self",
            "name": f"{self.prefix}{self.run}-{self.worker}-{n}", "kana": "フカシケン タロウ",
            "phone": f"080{(self.worker * 10_000_000 + n) % 100_000_000:08d}",
            "email": f"ratio-{self.run}-{self.worker}-{n}@example.jp",
            "age_band": pick(choices, "age_band", n, preferred="75-79"), "ward": pick(choices, "ward", n),
            "device": pick(choices, "device", n, preferred="android"), "accessibility_needs": "", "consent": "on",
        }
        if "notify_by" in choices:
            data["notify_by"] = pick(choices, "notify_by", n, preferred="email")
        post_headers = {"Cookie": f"csrftoken={cookie.group(1)}", "Referer": f"https://{self.netloc}{path}",
                        "Content-Type": "application/x-www-form-urlencoded"}
        status, _, _, page = self.request("POST", path, urlencode(data), post_headers)
        if status != 200 or 'name="step"' not in page:
            return f"review: HTTP {status}"
        answers = {}
        for tag in INPUT.findall(page):
            if 'type="hidden"' in tag and (name := NAME.search(tag)):
                value = VALUE.search(tag)
                answers[name.group(1)] = html.unescape(value.group(1)) if value else ""
        answers["step"] = "register"
        status, location, _, _ = self.request("POST", path, urlencode(answers), post_headers)
        if status != 302 or "/registrations/" not in location or "/already/" in location:
            return f"register: HTTP {status} {location}"
        return ""


def registrations_over_http(host: str, run: dict, seconds: int, concurrency: int) -> dict:
    stop = time.monotonic() + seconds
    done, errors, latencies = [], [], []
    lock = threading.Lock()

    def loop(worker: int):
        resident = Resident(host, run["sessions"], run["name_prefix"], run["run"], worker)
        n = 0
        while time.monotonic() < stop:
            started = time.monotonic()
            problem = resident.register(n)
            with lock:
                (errors if problem else done).append(problem or 1)
                if not problem:
                    latencies.append(time.monotonic() - started)
            n += 1

    before = loadavg()
    started = time.monotonic()
    threads = [threading.Thread(target=loop, args=(w,)) for w in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {"registrations": len(done), "seconds": round(elapsed, 2), "per_second": len(done) / elapsed,
            "errors": len(errors), "first_errors": errors[:5],
            "p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
            "load_before": before, "load_after": loadavg()}


# --- The same transaction with pgbench ---------------------------------------------------------------------------

def pgbench(pgurl: str, run: dict, seconds: int, concurrency: int) -> dict:
    ids = [s["id"] for s in run["sessions"]]
    if ids != list(range(min(ids), max(ids) + 1)):
        raise SystemExit(f"pgbench needs consecutive session ids, the run has {ids}")
    psql = ["psql", pgurl, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-tA"]
    subprocess.run([*psql, "-c", "CREATE SEQUENCE IF NOT EXISTS loadtest_reference_0 MAXVALUE 9999999 "
                    "CYCLE"], check=True)
    ctype = subprocess.run([*psql, "-c", "SELECT id FROM django_content_type WHERE app_label = 'courses' AND "
                            "model = 'registration'"], capture_output=True, text=True, check=True).stdout.strip()
    before = loadavg()
    result = subprocess.run(
        ["pgbench", "-n", "-c", str(concurrency), "-j", "2", "-T", str(seconds), "-f",
         str(HERE / "registration.pgbench"), "-D", f"first_session={min(ids)}", "-D", f"last_session={max(ids)}",
         "-D", f"log_ctype={ctype}", pgurl], capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"pgbench failed:\n{result.stdout}\n{result.stderr}")
    failed = int(m.group(1)) if (m := PGBENCH_FAILED.search(result.stdout)) else 0
    return {"tps": float(PGBENCH_TPS.search(result.stdout).group(1)), "failed": failed,
            "load_before": before, "load_after": loadavg()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--pgurl", required=True)
    parser.add_argument("--run", required=True, help="loadtest_prepare's file of the sessions registered over HTTP")
    parser.add_argument("--pgbench-run", required=True, help="loadtest_prepare's file of pgbench's sessions")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    for tool in ("wrk", "pgbench", "psql"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (apt-get install wrk postgresql-client)")
    run = json.loads(Path(args.run).read_text())
    pgbench_run = json.loads(Path(args.pgbench_run).read_text())
    host = args.host.rstrip("/")
    s, c = args.seconds, args.concurrency

    figures: dict = {"concurrency": c, "seconds": s, "load_start": loadavg()}
    healthz_before = wrk(f"{host}/healthz", s, c)
    classes = wrk(f"{host}/classes/", s, c)
    course = wrk(f"{host}{run['course_url']}", s, c)
    healthz_after = wrk(f"{host}/healthz", s, c)
    healthz = (healthz_before["rps"] + healthz_after["rps"]) / 2
    figures["pages"] = {"healthz_before": healthz_before, "classes": classes, "course": course,
                        "healthz_after": healthz_after, "classes_ratio": classes["rps"] / healthz,
                        "course_ratio": course["rps"] / healthz}
    http_figures = registrations_over_http(host, run, s, c)
    database = pgbench(args.pgurl, pgbench_run, s, c)
    figures["registrations"] = {"http": http_figures, "pgbench": database,
                                "ratio": http_figures["per_second"] / database["tps"]}
    figures["load_end"] = loadavg()
    Path(args.out, "ratios.json").write_text(json.dumps(figures, indent=1))

    page_errors = sum(p["non_2xx"] + p["socket_errors"] for p in (healthz_before, classes, course, healthz_after))
    emit(f"load average at the start {figures['load_start']}, at the end {figures['load_end']}")
    emit(f"{'work':44} {'rate':>12} {'baseline':>12} {'ratio':>8}")
    emit(f"{'/classes/ req/s ÷ /healthz req/s':44} {classes['rps']:12.1f} {healthz:12.1f} "
          f"{figures['pages']['classes_ratio']:8.1%}")
    emit(f"{'course page req/s ÷ /healthz req/s':44} {course['rps']:12.1f} {healthz:12.1f} "
          f"{figures['pages']['course_ratio']:8.1%}")
    emit(f"{'registrations/s over HTTP ÷ pgbench tx/s':44} {http_figures['per_second']:12.1f} "
          f"{database['tps']:12.1f} {figures['registrations']['ratio']:8.1%}")
    emit(f"/healthz before {healthz_before['rps']:.1f}, after {healthz_after['rps']:.1f} req/s; registration p50 "
          f"{http_figures['p50_ms']} ms (3 requests)")
    problems = page_errors + http_figures["errors"] + database["failed"]
    if problems:
        emit(f"ERRORS: pages {page_errors}, registrations {http_figures['errors']} {http_figures['first_errors']}, "
              f"pgbench failed transactions {database['failed']}: these figures measured nothing", sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
