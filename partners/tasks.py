"""Background work of the partners app: the staff invitation e-mails (partners.invitations).

They run on the "mail" backend and queue (django-tasks-db), worked by the same
`python manage.py db_worker --backend mail --queue-name mail` as the residents' outbox. The tasks take ids, never
the link's secret: the worker makes the secret when it sends, so the task table never holds it. Both are
idempotent: an invitation already sent, not due, withdrawn, accepted, expired or taken by another worker is left
alone.
"""

from django_tasks import task

from partners import invitations


@task(backend="mail", queue_name="mail")
def send_invitation_task(invitation_id: int, send_round: int) -> str | None:
    """Send one invitation's e-mail for this round (enqueued by invite/resend, and again, deferred, per retry)."""
    return invitations.send_invitation(invitation_id, send_round=send_round)


@task(backend="mail", queue_name="mail")
def send_due_invitations_task() -> dict[str, int]:
    """Send every invitation e-mail that is due (a lost task, a worker that died): for the periodic sweep."""
    return dict(invitations.send_due_invitations())
