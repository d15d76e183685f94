"""The outbox worker draining 10,000 queued e-mails through the real SendGrid backend to the fake SendGrid server,
beside the fake server's own request rate; and registration latency with SendGrid up and stalling (it must not
depend on SendGrid: nothing is sent inside a request)."""

import http.client
import json
import logging
import os
import resource
import statistics
import time
from datetime import timedelta
from urllib.parse import urlsplit

from django.test.utils import override_settings
from django.utils import timezone

from courses import outbox, services
from courses.models import OutgoingMessage, Participant, Registration, Session
from tests import factories
from tests.fake_sendgrid import FAKE_API_KEY, FakeSendGrid

MESSAGES = int(os.environ.get("DEKIRU_BENCH_MESSAGES", "10000"))
PER_SESSION = 100
RAW_REQUESTS = 2_000
REGISTRATIONS = 60


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _queue(course, organiser) -> None:
    start = timezone.now() + timedelta(days=3)
    sessions = Session.objects.bulk_create(
        Session(course=course, organiser=organiser, venue=factories.venue(), capacity=PER_SESSION,
                starts_at=start + timedelta(hours=i), ends_at=start + timedelta(hours=i, minutes=90))
        for i in range(MESSAGES // PER_SESSION))
    people = Participant.objects.bulk_create(
        Participant(name=f"測定 花子{n}", kana="ソクテイ ハナコ", email=f"bench{n}@example.jp",
                    age_band=Participant.AgeBand.AGE_70_74) for n in range(MESSAGES))
    registrations = [Registration(session=sessions[n // PER_SESSION], participant=person,
                                  status=Registration.Status.CONFIRMED) for n, person in enumerate(people)]
    services.assign_references(registrations)  # distinct booking references: bulk_create cannot retry a row
    registrations = Registration.objects.bulk_create(registrations)
    OutgoingMessage.objects.bulk_create(
        (OutgoingMessage(key=f"confirmed:reg={r.pk}", kind=OutgoingMessage.Kind.CONFIRMED, registration=r,
                         session=r.session, to_name=person.name, to_email=person.email)
         for r, person in zip(registrations, people, strict=True)), batch_size=1000)


def _raw_rate(server: FakeSendGrid) -> float:
    """The fake server alone: valid requests one after the other over one kept-alive connection, as the SendGrid
    backend sends them (cms.mail reuses its connection)."""
    body = json.dumps({"personalizations": [{"to": [{"email": "a@example.jp"}]}],
                       "from": {"email": "no-reply@example.jp"}, "subject": "件名",
                       "content": [{"type": "text/plain", "value": "本文"}]}).encode()
    headers = {"Authorization": f"Bearer {FAKE_API_KEY}", "Content-Type": "application/json"}
    parts = urlsplit(server.url)
    client = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    started = time.perf_counter()
    try:
        for _ in range(RAW_REQUESTS):
            client.request("POST", "/v3/mail/send", body=body, headers=headers)
            response = client.getresponse()
            response.read()
    finally:
        client.close()
    return RAW_REQUESTS / (time.perf_counter() - started)


def _registration_ms(session, offset: int) -> list[float]:
    timings = []
    for n in range(REGISTRATIONS):
        started = time.perf_counter()
        services.register(session=session, participant=services.ParticipantDetails(
            name=f"遅延 太郎{offset + n}", kana="チエン タロウ", email=f"latency{offset + n}@example.jp",
            age_band="70-74", consent=True))
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def run() -> None:
    for name in ("cms.mail", "courses.outbox", "courses"):
        logging.getLogger(name).setLevel(logging.WARNING)
    organiser = factories.partner()
    course = factories.course(owner=organiser)
    _queue(course, organiser)
    with FakeSendGrid() as server, override_settings(
            EMAIL_BACKEND="cms.mail.SendGridBackend", SENDGRID_API_KEY=FAKE_API_KEY, SENDGRID_API_HOST=server.url,
            SENDGRID_TIMEOUT=5):
        raw = _raw_rate(server)
        server.reset()
        before = _rss_mb()
        started = time.perf_counter()
        outcomes = outbox.send_due_messages()
        elapsed = time.perf_counter() - started
        assert outcomes.get(OutgoingMessage.Status.SENT) == MESSAGES, outcomes
        assert len(server.messages) == MESSAGES and not server.invalid
        print(f"outbox drain, one worker: {MESSAGES} e-mails (.ics attached) in {elapsed:.1f} s = "  # noqa: T201
              f"{MESSAGES / elapsed:.0f} messages/s; peak RSS {_rss_mb():.0f} MB "
              f"(+{_rss_mb() - before:.0f} MB during the drain); fake SendGrid alone (keep-alive): {raw:.0f} "
              f"requests/s; {server.connection_count} connection(s) for the drain")

        session = factories.session(course_page=course, organiser=organiser, capacity=REGISTRATIONS * 3)
        up = _registration_ms(session, 0)
        server.stall_next(30, times=10_000)  # every request to SendGrid would hang for 30 s
        stalled = _registration_ms(session, REGISTRATIONS)
        server.reset()
        print(f"register() with SendGrid up: median {statistics.median(up):.1f} ms; "  # noqa: T201
              f"with SendGrid stalling 30 s: median {statistics.median(stalled):.1f} ms "
              f"({REGISTRATIONS} each; e-mails wait in the outbox: "
              f"{OutgoingMessage.objects.filter(status=OutgoingMessage.Status.PENDING).count()} pending)")
