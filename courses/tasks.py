"""Background work of the courses app: sending the outbox (courses.outbox), and the retention purge.

The outbox tasks run on the "mail" backend (django-tasks-db) and queue, worked by
`python manage.py db_worker --backend mail --queue-name mail`; the purge on the default backend. Each task takes
ids and is idempotent: a message already sent, not due yet or claimed by another worker is left alone, so running
a task twice does no harm.
"""

from django_tasks import task

from courses import emails, outbox
from courses.retention import purge_personal_data


@task(backend="mail", queue_name="mail")
def send_message_task(message_id: int) -> str | None:
    """Send one queued e-mail (enqueued when it is queued, and again, deferred, for each retry)."""
    return outbox.send_message(message_id)


@task(backend="mail", queue_name="mail")
def send_messages_task(message_ids: list[int]) -> dict[str, int]:
    """Send several e-mails queued together (e.g. everyone told of a cancelled session)."""
    outcomes: dict[str, int] = {}
    worker_id = outbox.new_worker_id()
    with emails.shared_lookups():
        for message_id in message_ids:
            status = outbox.send_message(message_id, worker_id=worker_id)
            if status is not None:
                outcomes[status] = outcomes.get(status, 0) + 1
    return outcomes


@task(backend="mail", queue_name="mail")
def send_due_messages_task(limit: int | None = None) -> dict[str, int]:
    """Drain every due e-mail (enqueued by the sweeper when messages wait longer than they should)."""
    return dict(outbox.send_due_messages(limit=limit))


@task()
def purge_personal_data_task(dry_run: bool = False) -> dict[str, int]:
    """The retention purge (courses.retention) on the default backend, for running it on demand; cron runs
    `manage.py purge_personal_data` daily. Idempotent: anonymised participants are not touched again."""
    result = purge_personal_data(dry_run=dry_run)
    return {"anonymised": result.anonymised, "registrations": result.registrations, "messages": result.messages,
            "log_entries": result.log_entries}
