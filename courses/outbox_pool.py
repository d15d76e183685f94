"""Draining the outbox with several threads at once: `drain_concurrently(threads=N)`.

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
"""

import logging
import threading
from collections import Counter
from datetime import datetime

from django.conf import settings
from django.db import connection, connections

from courses import outbox

logger = logging.getLogger(__name__)

# The most threads one process runs: more only queue on the GIL and hold database connections.
MAX_THREADS = 32


def configured_threads() -> int:
    """DEKIRU_OUTBOX_THREADS (default 1), at least 1, at most MAX_THREADS."""
    return max(1, min(MAX_THREADS, int(getattr(settings, "DEKIRU_OUTBOX_THREADS", 1) or 1)))


def usable_threads(wanted: int) -> int:
    """How many threads can drain at once on this database: `wanted` on PostgreSQL, 1 on SQLite."""
    wanted = max(1, min(MAX_THREADS, wanted))
    if wanted > 1 and not connection.features.has_select_for_update_skip_locked:
        logger.warning("outbox: %s threads asked, but %s serialises writers: draining with one thread",
                       wanted, connection.vendor)
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
