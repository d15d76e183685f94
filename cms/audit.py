"""Audit log entries without personal data.

Wagtail labels a log entry with str(instance), which for a registration or a participant is the person's name:
kept in the audit log for ever, after the retention purge, and shown in history views. `log()` here labels those
entries with ids instead: a model whose str() carries personal data defines `audit_title()`, and its entries are
titled with that. Every module of Dekiru logs through it.

An entry about a model that is not a page (Wagtail's ModelLogEntry) is one INSERT: Wagtail's own `log()` saves it
through `full_clean()`, which reads the content type's row and the user's row back from the database to check that
they exist (two queries in every booking's transaction). Here the entry is checked the same way without those reads:
the content type comes from Django's per-process cache and the user is the signed-in user object itself; the action
must be registered, as Wagtail's `clean()` requires. Pages (PageLogEntry, with revisions) go through Wagtail.
"""

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _
from wagtail.log_actions import get_active_log_context
from wagtail.log_actions import log as wagtail_log
from wagtail.log_actions import registry as log_registry
from wagtail.models import ModelLogEntry


def audit_title(instance) -> str | None:
    """The id-only label of an object whose str() would put personal data in the log, else None."""
    title = getattr(instance, "audit_title", None)
    return title() if callable(title) else None


def log(instance, action, **kwargs):
    title = audit_title(instance)
    if title and not kwargs.get("title"):
        kwargs["title"] = title
    if log_registry.get_log_model_for_instance(instance) is ModelLogEntry:
        return _log_model_entry(instance, action, **kwargs)
    return wagtail_log(instance, action, **kwargs)


def _log_model_entry(instance, action, *, user=None, uuid=None, title=None, data=None, timestamp=None, **kwargs):
    """What wagtail.log_actions.log does for a ModelLogEntry (same fields, same log context), in one INSERT."""
    if instance.pk is None:
        raise ValueError(f"Attempted to log an action for object {instance!r} with empty primary key")
    if not log_registry.action_exists(action):
        raise ValidationError({"action": _("The log action '%(action_name)s' has not been registered.")
                               % {"action_name": action}})
    context = get_active_log_context()
    entry = ModelLogEntry(
        content_type=ContentType.objects.get_for_model(instance, for_concrete_model=False),
        label=title or str(instance) or f"{instance.__class__.__name__} object ({instance.pk})",
        action=action, timestamp=timestamp or timezone.now(), data=data or {},
        user=user or context.user, uuid=uuid or context.uuid, object_id=str(instance.pk), **kwargs)
    # Every check of full_clean() but the foreign keys' existence (the objects are in hand), then a plain save:
    # ModelLogEntry.save() would run full_clean() again, with the two reads.
    entry.full_clean(exclude=["content_type", "user", "revision"], validate_unique=False,
                     validate_constraints=False)
    models.Model.save(entry)
    return entry


def acting_user(actor):
    """The signed-in user a service acts for, for the log's user; None for residents (anonymous) and jobs."""
    return actor if getattr(actor, "is_authenticated", False) else None
