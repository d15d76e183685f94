"""When the registration form started recording explicit answers, on this installation.

Until then the public registration form (and the phone booking form that inherits it) arrived with the first age
band (under 20) and "outside the city / prefer not to say" preselected: a skipped age was stored as under 20, and
"outside the city" and "prefer not to say" were one stored value (no ward). The fix came with the migration
courses 0006_participant_residence, and Django records when each migration was applied (django_migrations): that
moment is when explicit answers started here. It is read from there, not from a setting or a new migration, so each
installation gets its own date.

- `explicit_answers_since()`: that moment, or None if the row is missing (migrations faked away by hand).
- `explicit_answers_since_subquery()`: the same as a subquery, for a query that needs it without a query of its own.
"""

from __future__ import annotations

import datetime as dt

from django.db.migrations.recorder import MigrationRecorder
from django.db.models import Subquery

FIX_MIGRATION = ("courses", "0006_participant_residence")


def _applied():
    app, name = FIX_MIGRATION
    return MigrationRecorder.Migration.objects.filter(app=app, name=name).values("applied")


def explicit_answers_since() -> dt.datetime | None:
    """The moment migration courses 0006 was applied: registrations through the web or phone form made before it
    may hold a defaulted age band ("under 20" for a skipped question) and an unknown residence."""
    return _applied().values_list("applied", flat=True).first()


def explicit_answers_since_subquery() -> Subquery:
    return Subquery(_applied()[:1])
