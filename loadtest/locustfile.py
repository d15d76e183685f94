"""Load test of Dekiru's public site (locust). Run by scripts/loadtest.sh; figures in docs/benchmarks.md.

Two user classes, chosen on locust's command line:

`Resident` — the registration burst. Each simulated resident arrives at a random moment of the second locust starts
it in (loadtest/arrivals.py: locust itself starts a second's users at the same instant), opens the registration
form of one session (GET: the CSRF cookie and hidden field), fills it in (name, kana, phone, e-mail, age band,
ward, consent) and sends it once (POST), then waits for the end. Resident n takes session n mod S of the run file,
so the sessions get the same number of people. Every LOADTEST_DOUBLE_SUBMIT_EVERY-th resident double-clicks: two
identical POSTs at the same moment (the second must find the first and create nothing). With several LOADTEST_HOSTS
(two gunicorn instances), residents alternate between them in blocks of S, so every session is fought over through
both instances. When every resident is done, locust stops by itself.

  302 to the confirmation page  → registered (confirmed or waitlisted: the database check counts which)
  302 to /registrations/already/ → a repeated submission, nothing created
  429                            → rate limited: counted, not a failure
  503 with Retry-After           → the busy answer (cms.overload, 「ただいま混み合っています」, nothing registered): an
                                   answer, not a failure; the resident waits Retry-After and presses again, as the
                                   page asks (at most LOADTEST_BUSY_RETRIES times, then it counts as a failure)
  400 (the form re-rendered)     → failure: the load test sent something the form refused, so it measured nothing
  anything else (5xx, 403 CSRF…) → failure

The choices (ward, age band, device, whom the booking is for) are read from the form page each resident opens
(loadtest/formfill.py), never written in here: ward ids differ from one database to another.

`Browser` — the browsing mix, GET only (safe against a read-only database): home page, the class listing without
and with filters (ward, free seats, topic, level, phone, keyword, page 2), course pages, the calendar feed, and now
and then a static file of the home page (served by WhiteNoise). The filters' values, the course pages and the static
files are read from the site itself at the start (the listing's <select>s, /courses/, the home page: requests left
out of the statistics), so the same file runs against the demo data and the 50,000-session bench data. Think time
between requests: LOADTEST_WAIT seconds, "min-max" (default 0.5-1.5; 0-0 measures the most the servers can do).

Requests go to the app servers directly, as a TLS-terminating load balancer would forward them: with
`X-Forwarded-Proto: https` (production settings trust it) and an `Origin` header, which Django's CSRF check
compares with the host on HTTPS. The CSRF cookie is Secure in production, so it is sent back by hand.

Environment:
  LOADTEST_HOSTS       comma-separated base URLs (default http://127.0.0.1:8101)
  LOADTEST_TARGETS     the run file written by `manage.py loadtest_prepare --output` (Resident only)
  LOADTEST_RESIDENTS   how many residents the burst sends (default 1000; set the same as locust's -u)
  LOADTEST_DOUBLE_SUBMIT_EVERY  default 20 (0: never)
  LOADTEST_TIMEOUT     seconds a resident waits for an answer (default 110)
  LOADTEST_BUSY_RETRIES  how often a resident presses again after the busy answer (default 3)
  LOADTEST_ARRIVAL_SPREAD  seconds over which the residents locust starts together arrive (default 1; 0: all at once)
  LOADTEST_SUMMARY     write outcome and HTTP status counts here (JSON) when locust stops
"""

import itertools
import json
import os
import random
import re
import urllib.request
from collections import Counter, defaultdict
from urllib.parse import urlencode, urlsplit

import gevent
import gevent.lock
from arrivals import arrival_delay  # loadtest/: locust puts the locustfile's folder on sys.path
from formfill import form_choices, pick
from locust import FastHttpUser, between, events, task

HOSTS = [h.strip().rstrip("/") for h in os.environ.get("LOADTEST_HOSTS", "http://127.0.0.1:8101").split(",")
         if h.strip()]
RESIDENTS = int(os.environ.get("LOADTEST_RESIDENTS", "1000"))
DOUBLE_SUBMIT_EVERY = int(os.environ.get("LOADTEST_DOUBLE_SUBMIT_EVERY", "20"))
WAIT = [float(x) for x in os.environ.get("LOADTEST_WAIT", "0.5-1.5").split("-")]
BUSY_RETRIES = int(os.environ.get("LOADTEST_BUSY_RETRIES", "3"))
# Residents arrive at random times within the second locust starts them in, not all in the same millisecond
# (loadtest/arrivals.py). 0 keeps locust's clumps.
ARRIVAL_SPREAD = float(os.environ.get("LOADTEST_ARRIVAL_SPREAD", "1"))

CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CSRF_COOKIE = re.compile(r"csrftoken=([A-Za-z0-9]+)")
SELECT = re.compile(r'<select name="(\w+)"[^>]*>(.*?)</select>', re.S)
OPTION = re.compile(r'<option value="([^"]+)"')
COURSE_LINK = re.compile(r'href="(/courses/[^/"#?]+/[^/"#?]+/)"')
STATIC_LINK = re.compile(r'(?:href|src)="(/static/[^"]+\.(?:css|js))"')
AGE_BANDS = ["60-64", "65-69", "70-74", "70-74", "75-79", "75-79", "80-84", "85+"]

# What happened, for the summary: outcomes of the registrations and HTTP statuses per request name.
outcomes: Counter = Counter()
statuses: dict[str, Counter] = defaultdict(Counter)
finished = 0


def _forwarded_headers(host: str) -> dict:
    netloc = urlsplit(host).netloc
    return {"X-Forwarded-Proto": "https", "Origin": f"https://{netloc}", "Accept-Language": "ja"}


@events.request.add_listener
def _count_status(name, response, exception, **_kwargs):
    code = getattr(response, "status_code", None) or 0
    statuses[name][str(code) if not exception or code else type(exception).__name__] += 1


@events.quitting.add_listener
def _write_summary(environment, **_kwargs):
    path = os.environ.get("LOADTEST_SUMMARY")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            options = getattr(environment, "parsed_options", None)
            json.dump({"users": getattr(options, "num_users", None), "outcomes": dict(outcomes),
                       "statuses": {k: dict(v) for k, v in statuses.items()}, "hosts": HOSTS,
                       "residents": RESIDENTS, "arrival_spread": ARRIVAL_SPREAD,
                       "stats": _final_stats(environment.stats)}, f, indent=1)


def _final_stats(stats) -> list[dict]:
    """The final figures per request name and in total (locust's CSV is written every second, so its last rows
    can miss the requests of the last second before the test stops itself)."""

    def row(entry, name):
        return {"name": name, "method": entry.method or "", "requests": entry.num_requests,
                "failures": entry.num_failures, "rps": entry.total_rps,
                **{f"p{p}": entry.get_response_time_percentile(p / 100) if entry.num_requests else None
                   for p in (50, 95, 99)}}

    rows = [row(entry, name) for (name, _method), entry in sorted(stats.entries.items())]
    return [*rows, row(stats.total, "Aggregated")]


# --- The registration burst ---------------------------------------------------------------------------------

_resident_numbers = itertools.count()


def _load_targets() -> dict | None:
    path = os.environ.get("LOADTEST_TARGETS")
    if not path:
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


TARGETS = _load_targets()


class Resident(FastHttpUser):
    """One resident registering once for one session, as fast as a person on a phone can (no think time)."""

    host = HOSTS[0]
    wait_time = between(0, 0)
    # A thousand people queue for a few app servers: wait for the answer up to LOADTEST_TIMEOUT seconds (a phone's
    # browser waits minutes) rather than counting a queued request as lost.
    network_timeout = float(os.environ.get("LOADTEST_TIMEOUT", "110"))
    connection_timeout = network_timeout

    def __init__(self, environment):
        self.number = next(_resident_numbers)
        sessions = TARGETS["sessions"] if TARGETS else []
        # Blocks of len(sessions) residents per host: each session gets residents through every host.
        self.host = HOSTS[(self.number // max(len(sessions), 1)) % len(HOSTS)]
        super().__init__(environment)

    def on_start(self):
        if TARGETS is None:
            raise RuntimeError("Set LOADTEST_TARGETS to the file written by `manage.py loadtest_prepare --output`.")
        # Never follow redirects: the POST's own 302 is the answer. (FastHttpSession's allow_redirects=False swaps
        # this setting for the duration of one request, which races when a double click sends two at once.)
        self.client.client.redirect_response_codes = frozenset()

    @task
    def register(self):
        global finished
        try:
            if self.number < RESIDENTS:
                gevent.sleep(arrival_delay(self.number, ARRIVAL_SPREAD))
                self._register()
        finally:
            finished += 1
            if finished == RESIDENTS and self.environment.runner is not None:
                # Everyone is done: stop the test instead of idling until --run-time.
                gevent.spawn_later(2, self.environment.runner.quit)
        gevent.sleep(24 * 3600)  # done: wait for the end of the test (locust stops the user), never register again

    def _register(self):
        session = TARGETS["sessions"][self.number % len(TARGETS["sessions"])]
        path = session["register_path"]
        headers = _forwarded_headers(self.host)
        with self.client.get(path, headers=headers, name="GET register form", catch_response=True) as form:
            if not form.status_code:  # no answer: timeout or connection error
                form.failure(f"no answer: {form.error!r}")
                outcomes["no answer to the form"] += 1
                return
            token = CSRF_FIELD.search(form.text or "")
            cookie = CSRF_COOKIE.search((form.headers or {}).get("set-cookie", "") or "")
            if form.status_code != 200 or not token or not cookie:
                form.failure(f"form HTTP {form.status_code}, csrf field {bool(token)}, cookie {bool(cookie)}")
                outcomes["form failed"] += 1
                return
            n, run = self.number, TARGETS["run"]
            try:
                choices = form_choices(form.text or "")
                ward = pick(choices, "ward", n)
                age_band = pick(choices, "age_band", n, preferred=AGE_BANDS[n % len(AGE_BANDS)])
                device = pick(choices, "device", n, preferred="android")
                booking_for = pick(choices, "booking_for", n, preferred="self") if "booking_for" in choices \
                    else "self"
                # How to be told about changes, when the form asks: e-mail (the resident gives one).
                extra = {"notify_by": pick(choices, "notify_by", n, preferred="email")} \
                    if "notify_by" in choices else {}
            except KeyError as exc:
                form.failure(str(exc))
                outcomes["form without choices"] += 1
                return
            form.success()
        data = {
            "csrfmiddlewaretoken": token.group(1), "booking_for": booking_for,
            "name": f"{TARGETS['name_prefix']}{n}", "kana": "フカシケン タロウ",
            "phone": f"090{n:08d}", "email": f"lt-{run}-{n}@example.jp",
            "age_band": age_band, "ward": ward, "device": device,
            "accessibility_needs": "", "consent": "on", "step": "register",  # the review page's final button
            "booker_name": "", "booker_relationship": "", "booker_phone": "", "booker_email": "", **extra,
        }
        post_headers = {**headers, "Cookie": f"csrftoken={cookie.group(1)}", "Referer": f"https://"
                        f"{urlsplit(self.host).netloc}{path}", "Content-Type": "application/x-www-form-urlencoded"}
        body = urlencode(data)
        if DOUBLE_SUBMIT_EVERY and n % DOUBLE_SUBMIT_EVERY == DOUBLE_SUBMIT_EVERY - 1:
            outcomes["double submissions"] += 1
            jobs = [gevent.spawn(self._post, path, body, post_headers, "POST register (double click)")
                    for _ in range(2)]
            gevent.joinall(jobs)
        else:
            self._post(path, body, post_headers, "POST register")

    def _post(self, path, body, headers, name, pressed=0):
        with self.client.post(path, data=body, headers=headers, name=name, allow_redirects=False,
                              catch_response=True) as response:
            code = response.status_code
            outcomes[f"POST via {self.host}"] += 1
            location = (response.headers or {}).get("location", "") or ""
            retry_after = (response.headers or {}).get("retry-after", "") or ""
            busy = code == 503 and retry_after.isdigit() and pressed < BUSY_RETRIES
            if busy:
                # The busy answer: nothing was registered; the page keeps the answers and asks to press again.
                outcomes["busy (503), pressed again after Retry-After"] += 1
                response.success()
            elif not code:
                outcomes["no answer to the POST"] += 1
                response.failure(f"no answer: {response.error!r}")
            elif code == 302 and "/registrations/already/" in location:
                outcomes["already registered (nothing created)"] += 1
                response.success()
            elif code == 302 and "/registrations/" in location:
                outcomes["registered"] += 1
                response.success()
            elif code == 400:
                # The form re-rendered with errors: what was sent was wrong, and nothing was measured.
                outcomes["refused (400): a failure"] += 1
                response.failure("HTTP 400: the form refused what the load test sent")
            elif code == 429:
                outcomes["rate limited (429)"] += 1
                response.success()
            else:
                outcomes[f"failed HTTP {code}"] += 1
                response.failure(f"HTTP {code} {location}")
        if busy:
            gevent.sleep(int(retry_after))
            self._post(path, body, headers, name, pressed + 1)


# --- The browsing mix ---------------------------------------------------------------------------------------

class Site:
    """Filter values and course pages, read once from the listing and the course index (outside the statistics)."""

    loaded = False
    lock = gevent.lock.Semaphore()
    options: dict[str, list[str]] = {}
    courses: list[str] = []
    static: list[str] = []

    @classmethod
    def load(cls, host, headers):
        with cls.lock:
            if cls.loaded:
                return

            def fetch(path):
                request = urllib.request.Request(host + path, headers=headers)
                with urllib.request.urlopen(request, timeout=60) as response:
                    return response.read().decode()

            cls.static = sorted(set(STATIC_LINK.findall(fetch("/"))))
            cls.options = {name: OPTION.findall(body) for name, body in SELECT.findall(fetch("/classes/"))}
            cls.courses = sorted(set(COURSE_LINK.findall(fetch("/courses/")))) or ["/courses/"]
            cls.loaded = True


class Browser(FastHttpUser):
    """A resident looking around: mostly the listing and course pages, sometimes the home page or the feed."""

    host = HOSTS[0]
    wait_time = between(*WAIT)
    network_timeout = 60.0
    connection_timeout = 60.0

    def on_start(self):
        self.headers = _forwarded_headers(self.host)
        Site.load(self.host, self.headers)

    def _get(self, path, name):
        with self.client.get(path, headers=self.headers, name=name, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")

    def _option(self, name):
        values = Site.options.get(name) or [""]
        return random.choice(values)

    @task(3)
    def home(self):
        self._get("/", "/")

    @task(2)
    def listing(self):
        self._get("/classes/", "/classes/")

    @task(2)
    def listing_by_ward(self):
        self._get(f"/classes/?ward={self._option('ward')}&free=on", "/classes/?ward&free")

    @task(2)
    def listing_by_topic(self):
        self._get(f"/classes/?topic={self._option('topic')}&level={self._option('level')}",
                  "/classes/?topic&level")

    @task(1)
    def listing_by_phone_and_keyword(self):
        self._get(f"/classes/?device={self._option('device')}&q=" + random.choice(["スマホ", "LINE", "マイナンバー"]),
                  "/classes/?device&q")

    @task(1)
    def listing_page_2(self):
        self._get("/classes/?page=2", "/classes/?page=2")

    @task(4)
    def course_page(self):
        self._get(random.choice(Site.courses), "course page")

    @task(1)
    def calendar_feed(self):
        self._get("/calendar/sessions.ics", "/calendar/sessions.ics")

    @task(1)
    def static_file(self):
        # A first visit's stylesheet or script (WhiteNoise; browsers then keep them, the names are hashed).
        if Site.static:
            with self.client.get(random.choice(Site.static), headers={**self.headers, "Accept-Encoding": "gzip"},
                                 name="static file", catch_response=True) as response:
                if response.status_code != 200:
                    response.failure(f"HTTP {response.status_code}")
