"""Give the roles their permissions on the new SessionSeries model (courses 0003).

Re-runs the idempotent role set-up of 0003 (the administrator holds every permission, the programme officer
all data, the analyst view), and lets partner managers create and change series of their own sessions.
"""

import importlib

from django.db import migrations

roles_0003 = importlib.import_module("cms.migrations.0003_roles")


def grant(apps, schema_editor):
    roles_0003.create_roles(apps, schema_editor)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    manager = Group.objects.get(name=roles_0003.PARTNER_MANAGER)
    manager.permissions.add(*Permission.objects.filter(
        content_type__app_label="courses", codename__in=["view_sessionseries", "add_sessionseries",
                                                         "change_sessionseries"]))


class Migration(migrations.Migration):
    dependencies = [("cms", "0003_roles"), ("courses", "0003_session_series")]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
