"""Audit log entries without personal data.

Wagtail labels a log entry with str(instance), which for a registration or a participant is the person's name:
kept in the audit log for ever, after the retention purge, and shown in history views. `log()` here labels those
entries with ids and the session instead. Every module of Dekiru logs through it.
"""

from wagtail.log_actions import log as wagtail_log


def audit_title(instance) -> str | None:
    from courses.models import OutgoingMessage, Participant, Registration

    if isinstance(instance, Registration):
        return f"Registration {instance.pk} – {instance.session}"
    if isinstance(instance, Participant):
        return f"Participant {instance.pk}"
    if isinstance(instance, OutgoingMessage):
        return f"{instance.get_kind_display()} {instance.pk}"
    return None


def log(instance, action, **kwargs):
    title = audit_title(instance)
    if title and not kwargs.get("title"):
        kwargs["title"] = title
    return wagtail_log(instance, action, **kwargs)
