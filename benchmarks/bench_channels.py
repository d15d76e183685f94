"""Messages per second per channel, against each fake provider's own request rate (issue 17, "Figures").

For each channel (e-mail through the sendgrid client to the fake SendGrid, SMS through the twilio client to the fake
Twilio, LINE through line-bot-sdk to the fake LINE server), with the fake server in a process of its own
(RemoteFake: the tests' fake class, still validating every request against the provider's spec; in this process it
would share the worker's interpreter lock, and its own rate would be measured without the worker competing):

- the fake server's raw rate: valid requests, one after the other, from a keep-alive client (http.client over one
  connection): its own ceiling, with its spec validation;
- the outbox worker's rate draining DEKIRU_BENCH_CHANNEL_MESSAGES (default 2,000) queued messages of that channel
  with one thread (courses.outbox.send_due_messages), and as many again with DEKIRU_BENCH_THREADS (default 4)
  threads (courses.outbox_pool.drain_concurrently), each reusing its connection, and as many again with
  DEKIRU_BENCH_PROCESSES (default the number of CPUs, at least 2) forked processes of that many threads each
  (courses.outbox_pool.drain_in_processes);
- the ratio worker / fake server, and the connections the fake server saw.

Threads need PostgreSQL (SQLite serialises writers; the pool stays at one thread there): run with DATABASE_URL set,
e.g. `DATABASE_URL=postgres://postgres@127.0.0.1:5432/dekiru make bench`. Progress is printed every few seconds
(DEKIRU_BENCH_PROGRESS_SECONDS), and a drain that makes no progress for DEKIRU_BENCH_STALL_SECONDS (default 60)
stops the benchmark with an error instead of hanging.

    python -m benchmarks benchmarks.bench_channels
    DEKIRU_BENCH_CHANNEL_MESSAGES=50 DEKIRU_BENCH_CHANNELS=email python -m benchmarks benchmarks.bench_channels
"""

import base64
import http.client
import json
import logging
import multiprocessing
import os
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from django.db import connection
from django.test.utils import override_settings
from django.utils import timezone

from courses import channel_budget, outbox, outbox_pool, services
from courses.models import OutgoingMessage, Participant, Registration, Session
from tests import factories
from tests.fake_line import ACCESS_TOKEN, FakeLine, user_id
from tests.fake_sendgrid import FAKE_API_KEY, FakeSendGrid
from tests.fake_twilio import FROM_NUMBER, FakeTwilio

MESSAGES = int(os.environ.get("DEKIRU_BENCH_CHANNEL_MESSAGES", "2000"))
THREADS = int(os.environ.get("DEKIRU_BENCH_THREADS", "4"))
PROCESSES = int(os.environ.get("DEKIRU_BENCH_PROCESSES", str(max(2, os.cpu_count() or 1))))
CHANNELS = [name for name in os.environ.get("DEKIRU_BENCH_CHANNELS", "email,sms,line").split(",") if name]
RAW_REQUESTS = int(os.environ.get("DEKIRU_BENCH_RAW_REQUESTS", str(min(MESSAGES, 2000))))
PROGRESS_SECONDS = float(os.environ.get("DEKIRU_BENCH_PROGRESS_SECONDS", "5"))
STALL_SECONDS = float(os.environ.get("DEKIRU_BENCH_STALL_SECONDS", "60"))
PER_SESSION = 100
Channel, Status = OutgoingMessage.Channel, OutgoingMessage.Status


def say(text: str) -> None:
    print(text, flush=True)  # noqa: T201


# --- The fake servers and the settings pointing each channel at its own -------------------------------------------


def _make_fake(channel: str):
    if channel == Channel.EMAIL:
        return FakeSendGrid(api_key=FAKE_API_KEY)
    if channel == Channel.SMS:
        return FakeTwilio()
    return FakeLine()


def _serve(channel: str, pipe) -> None:
    """The child process: serve the channel's fake (validating every request against the provider's spec, as in the
    tests) and answer the parent's questions over `pipe` until told to stop."""
    server = _make_fake(channel).start()
    pipe.send({"url": server.url, **{name: getattr(server, name, None)
                                     for name in ("account_sid", "auth_token", "access_token")}})
    while True:
        command = pipe.recv()
        if command == "counts":
            with server._lock:
                pipe.send((len(getattr(server, server.recorded)), len(server._connections), list(server.invalid[:3]),
                           len(server.invalid)))
        elif command == "reset":
            server.reset_counts()
            pipe.send(None)
        else:
            server.stop()
            pipe.send(None)
            return


class RemoteFake:
    """A fake provider (tests/fake_*.py, the same class as in the tests) served by a process of its own, so that it
    does not share this process's interpreter lock with the worker it answers, and its own rate is measured as the
    worker's is: from another process. Counts come over a pipe."""

    def __init__(self, channel: str):
        context = multiprocessing.get_context("fork")
        connection.close()  # the child must not inherit an open database connection
        self._pipe, child_end = context.Pipe()
        self._process = context.Process(target=_serve, args=(channel, child_end), name=f"fake-{channel}", daemon=True)
        self._process.start()
        child_end.close()
        if not self._pipe.poll(STALL_SECONDS):
            raise TimeoutError(f"the fake {channel} server did not start within {STALL_SECONDS:g} s")
        info = self._pipe.recv()
        self.url, self.account_sid, self.auth_token = info["url"], info["account_sid"], info["auth_token"]
        self.access_token = info["access_token"]
        self._lock = threading.Lock()  # the progress watcher and the drain's caller both ask

    def _ask(self, command: str):
        with self._lock:
            self._pipe.send(command)
            if not self._pipe.poll(STALL_SECONDS):
                raise TimeoutError(f"the fake server at {self.url} did not answer {command!r}")
            return self._pipe.recv()

    def accepted(self) -> int:
        return self._ask("counts")[0]

    @property
    def connection_count(self) -> int:
        return self._ask("counts")[1]

    @property
    def invalid(self) -> list:
        return self._ask("counts")[2]

    def reset_counts(self) -> None:
        self._ask("reset")

    def stop(self) -> None:
        try:
            self._ask("stop")
        finally:
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.terminate()


def _start(channel: str):
    server = RemoteFake(channel)
    if channel == Channel.EMAIL:
        settings = {"EMAIL_BACKEND": "cms.mail.SendGridBackend", "SENDGRID_API_KEY": FAKE_API_KEY,
                    "SENDGRID_API_HOST": server.url, "SENDGRID_TIMEOUT": 5}
    elif channel == Channel.SMS:
        settings = {"DEKIRU_SMS_BACKEND": "twilio", "DEKIRU_TWILIO_ACCOUNT_SID": server.account_sid,
                    "DEKIRU_TWILIO_AUTH_TOKEN": server.auth_token, "DEKIRU_TWILIO_FROM": FROM_NUMBER,
                    "DEKIRU_TWILIO_BASE_URL": server.url, "DEKIRU_TWILIO_TIMEOUT": 5,
                    "DEKIRU_TWILIO_STATUS_CALLBACK": False}
    else:
        settings = {"DEKIRU_LINE_BACKEND": "api", "DEKIRU_LINE_CHANNEL_ACCESS_TOKEN": server.access_token,
                    "DEKIRU_LINE_API_BASE": server.url, "DEKIRU_LINE_TIMEOUT": 5}
    return server, settings


def _accepted(server) -> int:
    return server.accepted()


def _raw_request(channel: str, server, n: int) -> tuple[str, str, bytes, dict]:
    """One valid request as the provider's client would send it: (method, path, body, headers)."""
    if channel == Channel.EMAIL:
        body = json.dumps({"personalizations": [{"to": [{"email": f"raw{n}@example.jp"}]}],
                           "from": {"email": "no-reply@example.jp"}, "subject": "件名",
                           "content": [{"type": "text/plain", "value": "本文"}]}).encode()
        return "POST", "/v3/mail/send", body, {"Authorization": f"Bearer {FAKE_API_KEY}",
                                               "Content-Type": "application/json"}
    if channel == Channel.SMS:
        body = urlencode({"To": f"+8190{n:08d}", "From": FROM_NUMBER, "Body": "講座のお知らせ"}).encode()
        auth = base64.b64encode(f"{server.account_sid}:{server.auth_token}".encode()).decode()
        return ("POST", f"/2010-04-01/Accounts/{server.account_sid}/Messages.json", body,
                {"Authorization": f"Basic {auth}", "Content-Type": "application/x-www-form-urlencoded"})
    body = json.dumps({"to": user_id(900_000 + n), "messages": [{"type": "text", "text": "講座のお知らせ"}]}).encode()
    return "POST", "/v2/bot/message/push", body, {"Authorization": f"Bearer {ACCESS_TOKEN}",
                                                  "Content-Type": "application/json",
                                                  "X-Line-Retry-Key": str(uuid.uuid4())}


def _raw_client(channel: str, server, numbers: range) -> None:
    """Valid requests, one after the other, over one kept-alive connection."""
    parts = urlsplit(server.url)
    client = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    requests = [_raw_request(channel, server, n) for n in numbers]
    try:
        for method, path, body, headers in requests:
            client.request(method, path, body=body, headers=headers)
            response = client.getresponse()
            response.read()
            if response.status >= 300:
                raise RuntimeError(f"{channel}: the fake server answered {response.status} to a valid request")
    finally:
        client.close()


def _raw_rate(channel: str, server, clients: int = 1) -> float:
    """The fake server alone: RAW_REQUESTS valid requests from `clients` kept-alive connections at once."""
    share = RAW_REQUESTS // clients
    errors = []

    def client(n: int) -> None:
        try:
            _raw_client(channel, server, range(n * share, (n + 1) * share))
        except BaseException as exc:  # noqa: BLE001 — raised below
            errors.append(exc)

    workers = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=STALL_SECONDS * 10)
    elapsed = time.perf_counter() - started
    if errors or any(worker.is_alive() for worker in workers):
        raise RuntimeError(f"{channel}: the raw requests failed or hung: {errors[:1]}")
    return share * clients / elapsed


# --- Queueing ----------------------------------------------------------------------------------------------------


def _queue(channel: str, count: int, offset: int) -> None:
    """`count` confirmations due now, to be sent by `channel`, one per resident."""
    course = factories.course(owner=factories.partner())
    start = timezone.now() + timedelta(days=3)
    sessions = Session.objects.bulk_create(
        Session(course=course, organiser=course.owner_partner, venue=factories.venue(), capacity=PER_SESSION,
                starts_at=start + timedelta(hours=i), ends_at=start + timedelta(hours=i, minutes=90))
        for i in range((count + PER_SESSION - 1) // PER_SESSION))

    def contact(n: int) -> dict:
        k = offset + n
        if channel == Channel.EMAIL:
            return {"email": f"bench{k}@example.jp"}
        if channel == Channel.SMS:
            return {"email": "", "phone": f"090{k:08d}"}
        return {"email": "", "phone": "0441234567", "line_user_id": user_id(k), "line_linked_at": timezone.now()}

    people = Participant.objects.bulk_create(
        Participant(name=f"測定 花子{offset + n}", kana="ソクテイ ハナコ", age_band=Participant.AgeBand.AGE_70_74,
                    **contact(n)) for n in range(count))
    registrations = [Registration(session=sessions[n // PER_SESSION], participant=person,
                                  status=Registration.Status.CONFIRMED,
                                  sms_consented_at=timezone.now() if channel == Channel.SMS else None)
                     for n, person in enumerate(people)]
    services.assign_references(registrations)
    registrations = Registration.objects.bulk_create(registrations)
    OutgoingMessage.objects.bulk_create(
        (OutgoingMessage(key=f"confirmed:reg={r.pk}", kind=OutgoingMessage.Kind.CONFIRMED, channel=channel,
                         registration=r, session=r.session, to_name=person.name, to_email=person.email,
                         to_phone=person.phone if channel == Channel.SMS else "",
                         to_line=person.line_user_id if channel == Channel.LINE else "")
         for r, person in zip(registrations, people, strict=True)), batch_size=1000)


# --- Draining, watched -------------------------------------------------------------------------------------------


def _watched(label: str, server, expected: int, drain) -> tuple[Counter, float]:
    """Run `drain()` in a thread, print progress (the fake server's count) every PROGRESS_SECONDS, and give up with an
    error when nothing moves for STALL_SECONDS. Returns (outcomes, seconds)."""
    result: dict = {}

    def run():
        try:
            result["outcomes"] = drain()
        except BaseException as exc:  # noqa: BLE001 — reported below
            result["error"] = exc
        finally:
            connection.close()

    before = _accepted(server)
    worker = threading.Thread(target=run, name=f"bench-{label}", daemon=True)
    started = time.perf_counter()
    worker.start()
    last_count, last_move = before, time.monotonic()
    while worker.is_alive():
        worker.join(timeout=PROGRESS_SECONDS)
        count = _accepted(server)
        if count != last_count:
            last_count, last_move = count, time.monotonic()
        if worker.is_alive():
            say(f"  … {label}: {count - before}/{expected} accepted after {time.perf_counter() - started:.0f} s")
            if time.monotonic() - last_move > STALL_SECONDS:
                raise TimeoutError(f"{label}: no progress for {STALL_SECONDS:g} s ({count - before}/{expected}); "
                                   f"threads: {[t.name for t in threading.enumerate()]}")
    elapsed = time.perf_counter() - started
    if "error" in result:
        raise result["error"]
    return result["outcomes"], elapsed


def _bench_channel(channel: str, threads: int, processes: int) -> dict:
    server, settings = _start(channel)
    try:
        with override_settings(**settings):
            channel_budget.reset_cache()
            say(f"[{channel}] queueing 3 × {MESSAGES} messages…")
            for batch in range(3):
                _queue(channel, MESSAGES, offset=batch * MESSAGES)
            say(f"[{channel}] fake server alone (its own process): {RAW_REQUESTS} requests over one kept-alive "
                f"connection, then over {threads}…")
            raw_one = _raw_rate(channel, server)
            raw_many = _raw_rate(channel, server, clients=threads) if threads > 1 else raw_one
            raw = max(raw_one, raw_many)  # the server's ceiling: the better of the two
            server.reset_counts()
            before = _accepted(server)

            one, one_s = _watched(f"{channel}, 1 thread", server, MESSAGES,
                                  lambda: outbox.send_due_messages(limit=MESSAGES))
            one_connections = server.connection_count
            server.reset_counts()
            many, many_s = _watched(f"{channel}, {threads} threads", server, MESSAGES,
                                    lambda: outbox_pool.drain_concurrently(threads=threads, limit=MESSAGES,
                                                                           join_timeout=3600))
            many_connections = server.connection_count
            server.reset_counts()
            forked, forked_s = _watched(f"{channel}, {processes} processes × {threads} threads", server, MESSAGES,
                                        lambda: outbox_pool.drain_in_processes(processes=processes, threads=threads,
                                                                               limit=MESSAGES, join_timeout=3600))
            forked_connections = server.connection_count
            for outcomes in (one, many, forked):
                assert outcomes == {Status.SENT: MESSAGES}, outcomes
            accepted = _accepted(server) - before
            invalid = server.invalid
            assert accepted == 3 * MESSAGES and not invalid, (accepted, invalid)
    finally:
        server.stop()
    return {"raw": raw, "raw_one": raw_one, "raw_many": raw_many, "one": MESSAGES / one_s, "many": MESSAGES / many_s,
            "forked": MESSAGES / forked_s, "one_connections": one_connections, "many_connections": many_connections,
            "forked_connections": forked_connections}


def run() -> None:
    for name in ("cms.mail", "cms.sms", "cms.line", "courses.outbox", "courses.outbox_pool", "courses"):
        logging.getLogger(name).setLevel(logging.WARNING)
    threads = outbox_pool.usable_threads(THREADS)
    processes = outbox_pool.usable_processes(PROCESSES)
    database = f"{connection.vendor} ({connection.settings_dict['NAME']})"
    say(f"channels: {MESSAGES} messages per drain, database {database}, {os.cpu_count()} CPUs, "
        f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}, Python {sys.version.split()[0]}; each fake "
        "server in a process of its own, validating every request against its provider's spec")
    if threads < THREADS or processes < PROCESSES:
        say(f"  ({THREADS} threads and {PROCESSES} processes need PostgreSQL, e.g. DATABASE_URL=postgres://…: on "
            f"{connection.vendor} the worker drains with one thread, so the threaded figures below are the "
            "one-thread drain again)")
    figures = {}
    for channel in CHANNELS:
        figures[channel] = _bench_channel(channel, threads, processes)
        f = figures[channel]
        say(f"[{channel}] fake server alone {f['raw_one']:.0f} req/s over 1 connection, {f['raw_many']:.0f} over "
            f"{threads}: ceiling {f['raw']:.0f} req/s; worker 1 thread {f['one']:.0f} msg/s "
            f"({f['one'] / f['raw']:.0%}, {f['one_connections']} connection(s)); {threads} threads {f['many']:.0f} "
            f"msg/s ({f['many'] / f['raw']:.0%}, {f['many_connections']} connection(s)); {processes} processes × "
            f"{threads} threads {f['forked']:.0f} msg/s ({f['forked'] / f['raw']:.0%}, {f['forked_connections']} "
            "connection(s))")
    say(f"channels summary ({database}, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}; the fake "
        "server's ceiling, then the worker's rate and its share of that ceiling):")
    for channel, f in figures.items():
        say(f"  {channel:5}  {f['raw']:6.0f} req/s  1 thread {f['one']:5.0f} msg/s = {f['one'] / f['raw']:4.0%}  "
            f"{threads} threads {f['many']:5.0f} msg/s = {f['many'] / f['raw']:4.0%}  "
            f"{processes}×{threads} {f['forked']:5.0f} msg/s = {f['forked'] / f['raw']:4.0%}")
