"""Draining the outbox with several threads at once, `drain_concurrently(threads=N)`, and with several processes of
N threads each, `drain_in_processes(processes=P, threads=N)`.

Sending is mostly waiting (for the provider's answer, for the database), so one process keeps N drains going at once,
each `courses.outbox.send_due_messages` in a thread of its own, with:

- its own database connection (Django's connections are per thread; each thread closes its own at the end), so
  claims race as separate workers do: `SELECT … FOR UPDATE SKIP LOCKED` and the conditional claim hand each message
  to one drain only (courses.outbox, "any number of these may run at once");
- its own senders, each keeping one HTTP connection alive between messages: the e-mail backend (cms.mail, a urllib3
  pool under the sendgrid client), the SMS sender (cms.sms, the twilio client's requests session) and the LINE sender
  (cms.line, line-bot-sdk's urllib3 pool). N threads make at most N connections per provider.

SQLite serialises writers, has no SKIP LOCKED, and a second writer in a transaction that began by reading fails at
once with "database is locked" instead of waiting: on SQLite the drain runs in one thread whatever is asked (a
warning says so). The number of threads: `threads`, else settings.DEKIRU_OUTBOX_THREADS (default 1, i.e. the plain
drain).

Threads share one interpreter lock, and once the connections are kept alive sending is mostly CPU (rendering a
message, the ORM, the provider's client): past two or three threads a process gains little. `drain_in_processes`
forks P worker processes (PostgreSQL only, like threads: the claims are what make them safe), each running
`drain_concurrently` with its own database connections and its own kept-alive provider connections, and sums their
outcomes. Nothing is shared between them but the database: a process that dies leaves the messages it held
`sending` until the sweeper returns them, exactly as a worker host that dies. The number of processes: `processes`,
else settings.DEKIRU_OUTBOX_PROCESSES (default 1, i.e. no fork).
"""

import logging
import multiprocessing
import threading
from collections import Counter
from datetime import datetime

from django.conf import settings
from django.db import connection, connections

from courses import outbox
from courses.models import OutgoingMessage

logger = logging.getLogger(__name__)

# The most threads one process runs: more only queue on the GIL and hold database connections.
MAX_THREADS = 32
# The most worker processes one drain forks: each holds its threads' database connections.
MAX_PROCESSES = 16


def configured_threads() -> int:
    """DEKIRU_OUTBOX_THREADS (default 1), at least 1, at most MAX_THREADS."""
    return max(1, min(MAX_THREADS, int(getattr(settings, "DEKIRU_OUTBOX_THREADS", 1) or 1)))


def configured_processes() -> int:
    """DEKIRU_OUTBOX_PROCESSES (default 1), at least 1, at most MAX_PROCESSES."""
    return max(1, min(MAX_PROCESSES, int(getattr(settings, "DEKIRU_OUTBOX_PROCESSES", 1) or 1)))


def usable_processes(wanted: int) -> int:
    """How many processes can drain at once on this database: `wanted` on PostgreSQL, 1 on SQLite."""
    return _usable(wanted, MAX_PROCESSES, "processes", "draining in this process")


def usable_threads(wanted: int) -> int:
    """How many threads can drain at once on this database: `wanted` on PostgreSQL, 1 on SQLite."""
    return _usable(wanted, MAX_THREADS, "threads", "draining with one thread")


def _usable(wanted: int, most: int, what: str, instead: str) -> int:
    """`wanted` drains, at least 1 and at most `most`; 1 where the database has no SKIP LOCKED (SQLite serialises
    writers: a second one fails with "database is locked"), which is logged."""
    wanted = max(1, min(most, wanted))
    if wanted > 1 and not connection.features.has_select_for_update_skip_locked:
        logger.warning("outbox: %s %s asked, but %s serialises writers: %s", wanted, what, connection.vendor, instead)
        return 1
    return wanted


def _shares(limit: int | None, threads: int) -> list[int | None]:
    """`limit` split between the threads (each at most its share; together at most `limit`)."""
    if limit is None:
        return [None] * threads
    return [limit // threads + (1 if n < limit % threads else 0) for n in range(threads)]


def drain_concurrently(*, threads: int | None = None, limit: int | None = None, now: datetime | None = None,
                       worker_id: str | None = None, join_timeout: float | None = None) -> Counter:
    """Drain due messages with `threads` concurrent drains (see the module's docstring); a Counter of outcomes by
    status, summed over the threads. `limit` caps the total. A thread's exception is raised here once all have
    stopped (the messages it held stay `sending` until the sweeper returns them, as for a worker that died).
    `join_timeout` (seconds): give up waiting for the threads (a RuntimeError; they are daemon threads)."""
    count = usable_threads(threads if threads is not None else configured_threads())
    worker_id = worker_id or outbox.new_worker_id()
    if count == 1:
        return outbox.send_due_messages(limit=limit, now=now, worker_id=worker_id)
    shares = [share for share in _shares(limit, count) if share != 0]
    results: list[Counter] = [Counter() for _ in shares]
    errors: list[BaseException] = []

    def work(n: int, share: int | None) -> None:
        try:
            results[n] = outbox.send_due_messages(limit=share, now=now, worker_id=f"{worker_id}:t{n}")
        except BaseException as exc:  # noqa: BLE001 — raised again in the calling thread
            logger.exception("outbox: drain thread %s failed", n)
            errors.append(exc)
        finally:
            connections.close_all()  # this thread's own connections

    workers = [threading.Thread(target=work, args=(n, share), name=f"outbox-drain-{n}", daemon=True)
               for n, share in enumerate(shares)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=join_timeout)
    if any(worker.is_alive() for worker in workers):
        raise RuntimeError(f"outbox: drain threads still running after {join_timeout} s")
    if errors:
        raise errors[0]
    return sum(results, Counter())


def _process_main(n: int, share: int | None, threads: int, now: datetime | None, worker_id: str, sender) -> None:
    """One forked worker process: drain with `threads` threads, send the outcomes (or the error) to the parent."""
    try:
        outcomes = drain_concurrently(threads=threads, limit=share, now=now, worker_id=f"{worker_id}:p{n}")
        sender.send(("done", dict(outcomes)))
    except BaseException as exc:  # noqa: BLE001 — reported to the parent, raised there
        logger.exception("outbox: drain process %s failed", n)
        sender.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        connections.close_all()
        sender.close()


def drain_in_processes(*, processes: int | None = None, threads: int | None = None, limit: int | None = None,
                       now: datetime | None = None, worker_id: str | None = None,
                       join_timeout: float | None = None) -> Counter:
    """Drain due messages with `processes` forked processes of `threads` threads each (the module's docstring); a
    Counter of outcomes by status, summed over them. `limit` caps the total. One process (or SQLite): the threads of
    `drain_concurrently` in this process, no fork. A process that fails or dies raises a RuntimeError here once
    all have stopped; `join_timeout` (seconds): give up waiting and stop them (a RuntimeError too)."""
    count = usable_processes(processes if processes is not None else configured_processes())
    threads = usable_threads(threads if threads is not None else configured_threads())
    worker_id = worker_id or outbox.new_worker_id()
    if count == 1:
        return drain_concurrently(threads=threads, limit=limit, now=now, worker_id=worker_id,
                                  join_timeout=join_timeout)
    if not OutgoingMessage.objects.due(now).exists():
        return Counter()  # nothing to send: no fork (a `send_outbox --loop` pass that finds nothing costs one query)
    # A forked child must open its own database connections, never use the parent's socket: close this thread's
    # (the only thread the child has) before forking.
    connections.close_all()
    context = multiprocessing.get_context("fork")  # the children inherit the settings as they are (tests, overrides)
    children = []
    for n, share in enumerate(share for share in _shares(limit, count) if share != 0):
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=_process_main, args=(n, share, threads, now, worker_id, sender),
                                  name=f"outbox-drain-p{n}", daemon=True)
        process.start()
        sender.close()  # the child's end: closed here so that a child that dies is seen as end of file
        children.append((process, receiver))
    total: Counter = Counter()
    errors = []
    for process, receiver in children:
        try:
            if join_timeout is not None and not receiver.poll(join_timeout):
                errors.append(f"{process.name} still running after {join_timeout} s")
                process.terminate()
            else:
                kind, value = receiver.recv()
                if kind == "done":
                    total.update(value)
                else:
                    errors.append(f"{process.name}: {value}")
        except EOFError:
            process.join(timeout=5)
            errors.append(f"{process.name} died (exit code {process.exitcode})")
        finally:
            receiver.close()
            process.join(timeout=5)
    if errors:
        raise RuntimeError(f"outbox: {'; '.join(errors)}")
    return total
