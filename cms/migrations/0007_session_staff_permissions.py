"""Permissions on the session staff model (courses 0005): the city roles get theirs by re-running the role
set-up of 0003; partner managers assign their own staff to their own sessions (the sessions admin scopes it)."""

import importlib

from django.db import migrations

roles_0003 = importlib.import_module("cms.migrations.0003_roles")


def grant(apps, schema_editor):
    roles_0003.create_roles(apps, schema_editor)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    manager = Group.objects.get(name=roles_0003.PARTNER_MANAGER)
    manager.permissions.add(*Permission.objects.filter(
        content_type__app_label="courses", codename__in=["view_sessionstaff", "add_sessionstaff",
                                                         "change_sessionstaff", "delete_sessionstaff"]))


class Migration(migrations.Migration):
    dependencies = [("cms", "0006_partner_page_access"), ("courses", "0005_session_staff")]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
