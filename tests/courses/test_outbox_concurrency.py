"""Several workers drain the same outbox at once, on PostgreSQL: each message reaches SendGrid exactly once.

Threads (each with its own database connection) and separate OS processes (as separate worker hosts would be)
claim messages with a row lock (FOR UPDATE SKIP LOCKED) and a conditional update; the fake SendGrid server counts
what it received per address.
"""

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import close_old_connections, connection

from courses import outbox
from courses.models import OutgoingMessage
from tests import factories

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.clock]

MESSAGES = 60


@pytest.fixture
def queued(site):
    """MESSAGES confirmations waiting to be sent, one per resident."""
    session = factories.session(capacity=MESSAGES)
    messages = []
    for n in range(MESSAGES):
        registration = factories.registration(
            session_obj=session, participant=factories.participant(email=f"worker-test-{n}@example.jp"))
        messages.append(outbox.build_message(OutgoingMessage.Kind.CONFIRMED, registration))
    assert outbox.queue_messages(messages) == MESSAGES
    return session


def assert_each_sent_once(fake_sendgrid):
    received = Counter(message["body"]["personalizations"][0]["to"][0]["email"] for message in fake_sendgrid.messages)
    assert len(received) == MESSAGES and set(received.values()) == {1}, received.most_common(3)
    assert fake_sendgrid.request_count == MESSAGES
    statuses = Counter(OutgoingMessage.objects.values_list("status", flat=True))
    assert statuses == {OutgoingMessage.Status.SENT: MESSAGES}
    assert OutgoingMessage.objects.filter(attempts=1).count() == MESSAGES


def run_threads(workers: int = 4):
    barrier = threading.Barrier(workers)
    outcomes, errors = [], []

    def work(n: int):
        try:
            barrier.wait(timeout=30)
            outcomes.append(outbox.send_due_messages(worker_id=f"thread-{n}"))
        except BaseException as exc:  # noqa: BLE001 — every failure counts
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    return outcomes


def test_worker_threads_never_send_the_same_message_twice(queued, fake_sendgrid):
    outcomes = run_threads()
    assert sum((Counter(o) for o in outcomes), Counter()) == {OutgoingMessage.Status.SENT: MESSAGES}
    assert sum(1 for o in outcomes if o) >= 2, "the workers shared the work"
    assert_each_sent_once(fake_sendgrid)


def test_control_a_claim_without_lock_or_condition_sends_duplicates(queued, fake_sendgrid, monkeypatch):
    """Proof that the test above can fail: a naive claim (read the next due message, then take it) races."""
    from datetime import timedelta

    from django.utils import timezone

    def naive_claim(*, worker_id, size=1, message_id=None, now=None):
        now = now or timezone.now()
        pk = OutgoingMessage.objects.due(now).values_list("pk", flat=True).first()
        if pk is None:
            return []
        time.sleep(0.02)
        OutgoingMessage.objects.filter(pk=pk).update(status=OutgoingMessage.Status.SENDING, claimed_by=worker_id,
                                                     lease_expires_at=now + timedelta(minutes=5))
        return [OutgoingMessage.objects.select_related(*outbox._RELATED).get(pk=pk)]

    monkeypatch.setattr(outbox, "claim_batch", naive_claim)
    run_threads()
    received = Counter(message["body"]["personalizations"][0]["to"][0]["email"] for message in fake_sendgrid.messages)
    assert max(received.values()) > 1, "without the claim's guard the workers should collide"


def test_worker_processes_never_send_the_same_message_twice(queued, fake_sendgrid):
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "cms.settings.test"}
    start_at = time.time() + 4  # every process has set up Django by then
    procs = [subprocess.Popen([sys.executable, "-m", "tests.courses.outbox_worker", fake_sendgrid.url, str(start_at),
                               f"process-{n}"], env=env, cwd=Path(__file__).resolve().parents[2],
                              stdout=subprocess.PIPE, text=True) for n in range(2)]
    outputs = [p.communicate(timeout=120)[0].strip() for p in procs]

    assert not [o for o in outputs if o.startswith("ERROR")], outputs
    total = sum((Counter(json.loads(o)) for o in outputs), Counter())
    assert total == {OutgoingMessage.Status.SENT: MESSAGES}
    assert_each_sent_once(fake_sendgrid)
