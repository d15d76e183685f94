"""Send the due e-mails of the outbox directly, without the task queue: once (`--limit` to cap it), or as a
long-running worker with `--loop` (which also runs the sweeper every `--sweep-every` seconds).

The usual worker is django-tasks' own: `python manage.py db_worker --backend mail --queue-name mail`. This command
is for draining a backlog by hand, for a host without the task worker, and for the benchmark. Any number of these
and of db_worker may run at once: a message is claimed by one of them only. Staff invitation e-mails that are due
(partners.invitations) are sent on each pass too, so a host without the task worker (and `make demo`) sends them.

`--threads N` (default settings.DEKIRU_OUTBOX_THREADS, 1) drains with N threads at once, each with its own database
connection and its own kept-alive connection to each provider (courses.outbox_pool); on SQLite it stays at one.
`--processes P` (default settings.DEKIRU_OUTBOX_PROCESSES, 1) forks P processes of N threads each for every pass,
past the one interpreter lock of a process (PostgreSQL only too).
"""

import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from cms.heartbeats import beat
from courses import outbox, outbox_pool
from partners import invitations


class Command(BaseCommand):
    help = "Send due outbox e-mails now (or keep sending with --loop)."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=None, help="Handle at most this many messages per pass.")
        parser.add_argument("--loop", action="store_true", help="Keep running, checking every --interval seconds.")
        parser.add_argument("--interval", type=float, default=5.0)
        parser.add_argument("--sweep-every", type=float, default=300.0)
        parser.add_argument("--threads", type=int, default=None,
                            help="Drain with this many threads at once (default DEKIRU_OUTBOX_THREADS, 1; "
                                 "always 1 on SQLite).")
        parser.add_argument("--processes", type=int, default=None,
                            help="Drain with this many processes of --threads threads each (default "
                                 "DEKIRU_OUTBOX_PROCESSES, 1; always 1 on SQLite).")

    def handle(self, *args, limit=None, loop=False, interval=5.0, sweep_every=300.0, threads=None, processes=None,
               **options):
        threads = outbox_pool.usable_threads(threads if threads is not None else outbox_pool.configured_threads())
        processes = outbox_pool.usable_processes(
            processes if processes is not None else outbox_pool.configured_processes())
        last_sweep = 0.0
        while True:
            if loop:
                close_old_connections()  # a long-running process: drop connections that went stale
            if loop and time.monotonic() - last_sweep >= sweep_every:
                outbox.sweep()
                last_sweep = time.monotonic()
            outcomes = outbox_pool.drain_in_processes(processes=processes, threads=threads, limit=limit)
            invitation_outcomes = invitations.send_due_invitations(limit=limit)
            if invitation_outcomes:
                summary = ", ".join(f"{status} {count}" for status, count in sorted(invitation_outcomes.items()))
                self.stdout.write(f"Staff invitations: {summary}.")
            if outcomes or not loop:
                summary = ", ".join(f"{status} {count}" for status, count in sorted(outcomes.items())) or "nothing due"
                self.stdout.write(f"Outbox: {summary}.")
            beat("mail_worker", runner="send_outbox", outcomes=dict(outcomes))
            if not loop:
                return
            if not outcomes:
                time.sleep(interval)
