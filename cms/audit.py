"""Audit log entries without personal data.

Wagtail labels a log entry with str(instance), which for a registration or a participant is the person's name:
kept in the audit log for ever, after the retention purge, and shown in history views. `log()` here labels those
entries with ids instead: a model whose str() carries personal data defines `audit_title()`, and its entries are
titled with that. Every module of Dekiru logs through it.
"""

from wagtail.log_actions import log as wagtail_log


def audit_title(instance) -> str | None:
    """The id-only label of an object whose str() would put personal data in the log, else None."""
    title = getattr(instance, "audit_title", None)
    return title() if callable(title) else None


def log(instance, action, **kwargs):
    title = audit_title(instance)
    if title and not kwargs.get("title"):
        kwargs["title"] = title
    return wagtail_log(instance, action, **kwargs)


def acting_user(actor):
    """The signed-in user a service acts for, for the log's user; None for residents (anonymous) and jobs."""
    return actor if getattr(actor, "is_authenticated", False) else None
