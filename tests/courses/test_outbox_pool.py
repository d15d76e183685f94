"""Draining the outbox with several threads (courses.outbox_pool): on PostgreSQL, N threads drain M messages of each
channel (e-mail to the fake SendGrid, SMS to the fake Twilio, LINE to the fake LINE server) and every message reaches
its provider exactly once, with failures (5xx, 429, dropped connections, a stalled LINE push) mixed in; each thread
keeps one connection per provider alive; the queries per message are those of one drain. The same with forked
processes of threads (drain_in_processes). On SQLite the drain stays in one thread of this process.
"""

import io
import threading
import time
from collections import Counter

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from wagtail.models import Site

from cms import sms
from courses import channel_budget, outbox, outbox_pool
from courses.models import OutgoingMessage, Registration
from tests import factories
from tests.fake_line import user_id

pytestmark = [pytest.mark.clock]

Kind, Status, Channel = OutgoingMessage.Kind, OutgoingMessage.Status, OutgoingMessage.Channel
NotifyBy = Registration.NotifyBy

PER_CHANNEL = 24
THREADS = 4
PROCESSES = 2
PER_THREAD_ONCE = 2  # queries a drain makes once: the default site and its settings (root paths warmed first)


def threaded(test):
    """PostgreSQL only, in a transactional test: each thread's own connection must see the committed rows."""
    return pytest.mark.postgres(pytest.mark.django_db(transaction=True)(test))


@pytest.fixture(autouse=True)
def _no_caps():
    channel_budget.reset_cache()
    yield
    channel_budget.reset_cache()


@pytest.fixture
def fakes(fake_sendgrid, fake_twilio, fake_line, settings):
    settings.DEKIRU_MAIL_RETRY_BASE_SECONDS = 1  # a transient failure is due again after 1 s
    settings.DEKIRU_MAIL_RETRY_CAP_SECONDS = 1
    return {Channel.EMAIL: fake_sendgrid, Channel.SMS: fake_twilio, Channel.LINE: fake_line}


def email_of(n):
    return f"pool-{n}@example.jp"


def mobile_of(n):
    return f"090{n:08d}"


def queue(per_channel=PER_CHANNEL):
    """`per_channel` confirmations to send by each of e-mail, SMS and LINE, one per resident."""
    session = factories.session(capacity=3 * per_channel)
    messages = []
    for n in range(per_channel):
        for channel in (Channel.EMAIL, Channel.SMS, Channel.LINE):
            k = {Channel.EMAIL: n, Channel.SMS: 1000 + n, Channel.LINE: 2000 + n}[channel]
            participant = factories.participant(
                email=email_of(k) if channel == Channel.EMAIL else "",
                phone=mobile_of(k) if channel == Channel.SMS else "0441234567",
                line_user_id=user_id(k) if channel == Channel.LINE else "",
                line_linked_at=timezone.now() if channel == Channel.LINE else None)
            registration = factories.registration(
                session_obj=session, participant=participant,
                notify_by={Channel.EMAIL: NotifyBy.EMAIL, Channel.SMS: NotifyBy.SMS, Channel.LINE: NotifyBy.LINE}[
                    channel],
                sms_consented_at=timezone.now() if channel == Channel.SMS else None)
            messages.append(outbox.build_message(Kind.CONFIRMED, registration))
    assert outbox.queue_messages(messages) == 3 * per_channel
    assert Counter(OutgoingMessage.objects.values_list("channel", flat=True)) == {
        Channel.EMAIL: per_channel, Channel.SMS: per_channel, Channel.LINE: per_channel}


def received(fakes) -> dict[str, Counter]:
    """What each fake server accepted, counted by recipient."""
    return {
        Channel.EMAIL: Counter(m["body"]["personalizations"][0]["to"][0]["email"]
                               for m in fakes[Channel.EMAIL].messages),
        Channel.SMS: Counter(m["form"]["To"] for m in fakes[Channel.SMS].messages),
        Channel.LINE: Counter(p["body"]["to"] for p in fakes[Channel.LINE].pushes),
    }


def assert_each_sent_once(fakes, per_channel=PER_CHANNEL):
    expected = {
        Channel.EMAIL: {email_of(n) for n in range(per_channel)},
        Channel.SMS: {sms.e164(mobile_of(1000 + n)) for n in range(per_channel)},
        Channel.LINE: {user_id(2000 + n) for n in range(per_channel)},
    }
    for channel, counts in received(fakes).items():
        assert set(counts) == expected[channel], channel
        assert set(counts.values()) == {1}, (channel, counts.most_common(3))
    assert Counter(OutgoingMessage.objects.values_list("status", flat=True)) == {Status.SENT: 3 * per_channel}
    for fake in fakes.values():
        assert not fake.invalid


def drain_until_done(threads, rounds=8, processes=1):
    """Drain with `processes` processes of `threads` threads until no message is pending (transient failures come
    due again after 1 s); the outcomes and the number of rounds it took."""
    total = Counter()
    for done in range(1, rounds + 1):
        if processes > 1:
            total += outbox_pool.drain_in_processes(processes=processes, threads=threads, join_timeout=120)
        else:
            total += outbox_pool.drain_concurrently(threads=threads, join_timeout=120)
        if not OutgoingMessage.objects.filter(status__in=(Status.PENDING, Status.SENDING)).exists():
            return total, done
        time.sleep(1.1)
    raise AssertionError(f"messages still pending after {rounds} rounds: {total}")


# --- On PostgreSQL: threads ------------------------------------------------------------------------------------


@threaded
@pytest.mark.parametrize("threads", [2, THREADS])
@pytest.mark.usefixtures("site")
def test_threads_send_every_message_of_every_channel_exactly_once(fakes, threads, monkeypatch):
    queue()
    started = threading.Barrier(threads, timeout=30)
    drains = []
    plain = outbox.send_due_messages

    def drain(**kwargs):
        started.wait()  # every thread is running before any claims: they compete for the same rows
        outcomes = plain(**kwargs)
        drains.append(outcomes)
        return outcomes

    monkeypatch.setattr(outbox, "send_due_messages", drain)
    outcomes = outbox_pool.drain_concurrently(threads=threads, join_timeout=120)

    assert outcomes == {Status.SENT: 3 * PER_CHANNEL}
    assert len(drains) == threads and sum(1 for o in drains if o) >= 2, "the threads shared the work"
    assert_each_sent_once(fakes)
    for channel, fake in fakes.items():
        assert fake.request_count == PER_CHANNEL, channel
        assert 1 <= fake.connection_count <= threads, (channel, fake.requests_per_connection())
    assert OutgoingMessage.objects.filter(attempts=1).count() == 3 * PER_CHANNEL


@threaded
@pytest.mark.usefixtures("site")
def test_failures_mixed_in_lose_and_duplicate_nothing(fakes):
    queue()
    sendgrid, twilio, line = fakes[Channel.EMAIL], fakes[Channel.SMS], fakes[Channel.LINE]
    sendgrid.fail_next(503, times=3)
    sendgrid.fail_next(429, retry_after=1, times=2)
    sendgrid.fail_next(500)
    twilio.fail_next(503, times=2)
    twilio.fail_next(429, code=20429, times=2)
    twilio.close_next()  # read, not answered, not recorded: retried, sent once
    line.fail_next(500, times=2)
    line.fail_next(429, message="Too many requests", retry_after="1", times=2)
    line.stall_next(3)  # accepted but answered after the client's 1-s timeout: the retry is answered 409

    outcomes, rounds = drain_until_done(THREADS)

    assert outcomes[Status.SENT] == 3 * PER_CHANNEL
    assert_each_sent_once(fakes)
    assert sendgrid.request_count == PER_CHANNEL + 6
    assert twilio.request_count == PER_CHANNEL + 5
    assert line.request_count == PER_CHANNEL + 5  # the stalled push's retry is answered 409, and counts as sent
    retried = OutgoingMessage.objects.filter(attempts__gt=1)
    assert retried.count() == 6 + 5 + 5
    # The stalled push may have gone out (it had): recorded, and LINE's 409 proved it went once.
    assert OutgoingMessage.objects.filter(channel=Channel.LINE, uncertain_attempts=1).count() == 1
    assert OutgoingMessage.objects.filter(channel=Channel.SMS, uncertain_attempts=1).count() == 1  # the dropped one
    for channel, fake in fakes.items():
        # Each round's threads open one connection per provider; failures answered with a status keep it, a
        # dropped or timed-out one costs a new one.
        assert fake.connection_count <= THREADS * rounds + 1, (channel, rounds, fake.requests_per_connection())


@threaded
@pytest.mark.usefixtures("site")
def test_threads_make_the_queries_of_one_drain_per_message(fakes, monkeypatch):
    queue()
    # Warm, as in a running worker: a cold cache of the site's root paths is filled by whichever threads miss it at
    # once (each fill is up to 7 statements on the database cache, a conflicting one rolled back), not per message.
    Site.get_site_root_paths()
    per_thread = []
    batches = Counter()  # claims that took something / nothing
    plain, plain_claim = outbox.send_due_messages, outbox.claim_batch

    def counted(**kwargs):
        with CaptureQueriesContext(connection) as queries:
            outcomes = plain(**kwargs)
        per_thread.append((outcomes.total(), len(queries)))
        return outcomes

    def claim_batch(**kwargs):
        claimed = plain_claim(**kwargs)
        batches["taken" if claimed else "empty"] += 1
        return claimed

    monkeypatch.setattr(outbox, "send_due_messages", counted)
    monkeypatch.setattr(outbox, "claim_batch", claim_batch)
    assert outbox_pool.drain_concurrently(threads=THREADS, join_timeout=120) == {Status.SENT: 3 * PER_CHANNEL}
    assert len(per_thread) == THREADS
    assert_each_sent_once(fakes)
    # What one drain makes, whichever thread sends: per batch of up to CLAIM_BATCH messages the claim (one UPDATE …
    # RETURNING) and the rows with their relations = 2; per message the UPDATE recording the outcome = 1; an e-mail
    # also looks up (or makes, in its own transaction) the resident's LINE link code and the site's root paths = 7
    # more. Per thread: the last, empty claim (one UPDATE) and at most the two lookups made once per drain (the
    # default site and its settings).
    assert batches["empty"] == THREADS
    assert 3 * PER_CHANNEL / outbox.CLAIM_BATCH <= batches["taken"] <= 3 * PER_CHANNEL, batches
    expected = 2 * batches["taken"] + 1 * 3 * PER_CHANNEL + 7 * PER_CHANNEL + batches["empty"]
    total = sum(queries for _messages, queries in per_thread)
    assert expected <= total <= expected + PER_THREAD_ONCE * THREADS, (per_thread, batches)
    # Fewer than the 6 per message of a claim per message (BEGIN, SELECT … FOR UPDATE, UPDATE, COMMIT, SELECT).
    assert total - 7 * PER_CHANNEL < 6 * 3 * PER_CHANNEL


@threaded
def test_send_outbox_threads_option(fakes, site):
    queue(per_channel=5)
    out = io.StringIO()
    call_command("send_outbox", "--threads", str(THREADS), stdout=out)
    assert "sent 15" in out.getvalue()
    assert_each_sent_once(fakes, per_channel=5)


# --- On PostgreSQL: processes of threads ------------------------------------------------------------------------


@threaded
@pytest.mark.usefixtures("site")
def test_processes_send_every_message_of_every_channel_exactly_once(fakes):
    queue()
    outcomes = outbox_pool.drain_in_processes(processes=PROCESSES, threads=2, join_timeout=120)

    assert outcomes == {Status.SENT: 3 * PER_CHANNEL}
    assert_each_sent_once(fakes)
    for channel, fake in fakes.items():
        assert fake.request_count == PER_CHANNEL, channel
        # Each process's threads keep their own connection: at most one per thread of each process.
        assert 1 <= fake.connection_count <= PROCESSES * 2, (channel, fake.requests_per_connection())
    claimed_by = set(OutgoingMessage.objects.values_list("claimed_by", flat=True))
    assert claimed_by == {""}, "every lease released"
    assert OutgoingMessage.objects.filter(attempts=1).count() == 3 * PER_CHANNEL


@threaded
@pytest.mark.usefixtures("site")
def test_processes_with_failures_mixed_in_lose_and_duplicate_nothing(fakes):
    queue()
    sendgrid, twilio, line = fakes[Channel.EMAIL], fakes[Channel.SMS], fakes[Channel.LINE]
    sendgrid.fail_next(503, times=2)
    sendgrid.fail_next(429, retry_after=1)
    twilio.fail_next(503, times=2)
    twilio.close_next()  # read, not answered, not recorded: retried, sent once
    line.fail_next(500, times=2)
    line.stall_next(3)  # accepted but answered after the client's 1-s timeout: the retry is answered 409

    outcomes, rounds = drain_until_done(2, processes=PROCESSES)

    assert outcomes[Status.SENT] == 3 * PER_CHANNEL
    assert_each_sent_once(fakes)
    assert sendgrid.request_count == PER_CHANNEL + 3
    assert twilio.request_count == PER_CHANNEL + 3
    assert line.request_count == PER_CHANNEL + 3
    assert OutgoingMessage.objects.filter(attempts__gt=1).count() == 3 + 3 + 3
    assert OutgoingMessage.objects.filter(channel=Channel.LINE, uncertain_attempts=1).count() == 1
    assert OutgoingMessage.objects.filter(channel=Channel.SMS, uncertain_attempts=1).count() == 1
    for channel, fake in fakes.items():
        assert fake.connection_count <= PROCESSES * 2 * rounds + 1, (channel, rounds, fake.requests_per_connection())


@threaded
@pytest.mark.usefixtures("site")
def test_a_process_that_fails_is_reported_and_its_messages_are_not_lost(fakes, monkeypatch):
    queue(per_channel=4)

    def broken(**kwargs):
        raise RuntimeError("this drain breaks")

    monkeypatch.setattr(outbox_pool, "drain_concurrently", broken)  # in every forked process
    with pytest.raises(RuntimeError, match="this drain breaks"):
        outbox_pool.drain_in_processes(processes=PROCESSES, threads=2, join_timeout=60)
    assert Counter(OutgoingMessage.objects.values_list("status", flat=True)) == {Status.PENDING: 12}


@threaded
def test_send_outbox_processes_option(fakes, site):
    queue(per_channel=5)
    out = io.StringIO()
    call_command("send_outbox", "--processes", str(PROCESSES), "--threads", "2", stdout=out)
    assert "sent 15" in out.getvalue()
    assert_each_sent_once(fakes, per_channel=5)


# --- On either database: one thread, one connection per provider -------------------------------------------------


@pytest.mark.django_db
def test_one_drain_reuses_one_connection_per_provider(fakes, site):
    queue(per_channel=8)
    assert outbox_pool.drain_concurrently(threads=1) == {Status.SENT: 24}
    assert_each_sent_once(fakes, per_channel=8)
    for channel, fake in fakes.items():
        assert fake.request_count == 8 and fake.connection_count == 1, (channel, fake.requests_per_connection())


@pytest.mark.django_db
def test_sqlite_drains_in_one_thread(settings, caplog):
    if connection.vendor != "sqlite":
        assert outbox_pool.usable_threads(THREADS) == THREADS
        return
    assert outbox_pool.usable_threads(THREADS) == 1
    assert "serialises writers" in caplog.text


@pytest.mark.django_db
def test_sqlite_drains_in_this_process(fakes, site, caplog, monkeypatch):
    if connection.vendor != "sqlite":
        assert outbox_pool.usable_processes(PROCESSES) == PROCESSES
        return
    assert outbox_pool.usable_processes(PROCESSES) == 1
    assert "serialises writers" in caplog.text
    monkeypatch.setattr(outbox_pool.multiprocessing, "get_context", None)  # no fork at all
    queue(per_channel=2)
    assert outbox_pool.drain_in_processes(processes=PROCESSES, threads=THREADS) == {Status.SENT: 6}
    assert_each_sent_once(fakes, per_channel=2)


@pytest.mark.django_db
def test_a_batch_claim_takes_at_most_its_size_oldest_first(fakes, site):
    queue(per_channel=6)
    due = list(OutgoingMessage.objects.due().values_list("pk", flat=True))
    first = outbox.claim_batch(worker_id="w1", size=5)
    # (On PostgreSQL an `id IN (… LIMIT n FOR UPDATE SKIP LOCKED)` may be rescanned and take far more than n.)
    assert [m.pk for m in first] == due[:5]
    assert OutgoingMessage.objects.filter(status=Status.SENDING, claimed_by="w1").count() == 5
    second = outbox.claim_batch(worker_id="w2", size=100)
    assert [m.pk for m in second] == due[5:]
    assert outbox.claim_batch(worker_id="w3") == []
    assert first[0].registration.session.course is not None  # read with its relations


@pytest.mark.django_db
def test_a_drain_stopped_by_an_error_gives_back_what_it_had_not_tried(fakes, site, monkeypatch):
    queue(per_channel=3)
    plain, tried = outbox.deliver, []

    def deliver(message, **kwargs):
        if len(tried) == 2:
            raise RuntimeError("the worker breaks")
        tried.append(message.pk)
        return plain(message, **kwargs)

    monkeypatch.setattr(outbox, "deliver", deliver)
    with pytest.raises(RuntimeError):
        outbox.send_due_messages()
    # Two sent, the third was being handed over when it broke (left to the sweeper, as a worker that dies), the
    # rest of the batch back in the queue at once: pending, no attempt counted, nothing uncertain.
    assert OutgoingMessage.objects.filter(status=Status.SENT).count() == 2
    assert OutgoingMessage.objects.filter(status=Status.SENDING).count() == 1
    back = OutgoingMessage.objects.filter(status=Status.PENDING)
    assert back.count() == min(outbox.CLAIM_BATCH, 9) - 3 + max(0, 9 - outbox.CLAIM_BATCH)
    assert set(back.values_list("attempts", "uncertain_attempts", "claimed_by")) == {(0, 0, "")}
    monkeypatch.setattr(outbox, "deliver", plain)
    assert outbox.send_due_messages() == {Status.SENT: 6}


def test_threads_come_from_the_setting(settings):
    settings.DEKIRU_OUTBOX_THREADS = 6
    assert outbox_pool.configured_threads() == 6
    settings.DEKIRU_OUTBOX_THREADS = 0
    assert outbox_pool.configured_threads() == 1
    settings.DEKIRU_OUTBOX_THREADS = 1000
    assert outbox_pool.configured_threads() == outbox_pool.MAX_THREADS


def test_processes_come_from_the_setting(settings):
    settings.DEKIRU_OUTBOX_PROCESSES = 3
    assert outbox_pool.configured_processes() == 3
    settings.DEKIRU_OUTBOX_PROCESSES = 0
    assert outbox_pool.configured_processes() == 1
    settings.DEKIRU_OUTBOX_PROCESSES = 1000
    assert outbox_pool.configured_processes() == outbox_pool.MAX_PROCESSES


def test_a_limit_is_shared_between_the_threads():
    assert outbox_pool._shares(10, 4) == [3, 3, 2, 2]
    assert outbox_pool._shares(2, 4) == [1, 1, 0, 0]
    assert outbox_pool._shares(None, 2) == [None, None]
