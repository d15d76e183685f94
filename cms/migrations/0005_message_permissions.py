"""Permissions on the outbox (courses 0004): who sees the message log and the call list, and who may retry a
failed e-mail or mark a call as done.

Re-runs the idempotent role set-up of 0003 (the administrator holds every permission, the programme officer
all data, the analyst view), then gives the call centre and partner staff theirs. Partner staff see only their
own sessions' messages, with recipients masked (courses.message_admin).
"""

import importlib

from django.db import migrations

roles_0003 = importlib.import_module("cms.migrations.0003_roles")

MESSAGE_PERMISSIONS = {
    roles_0003.CALL_CENTRE_OPERATOR: ["view_outgoingmessage", "change_outgoingmessage"],
    roles_0003.PARTNER_MANAGER: ["view_outgoingmessage", "change_outgoingmessage"],
    roles_0003.PARTNER_INSTRUCTOR: ["view_outgoingmessage", "change_outgoingmessage"],
}


def grant(apps, schema_editor):
    roles_0003.create_roles(apps, schema_editor)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in MESSAGE_PERMISSIONS.items():
        group = Group.objects.get(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="courses", codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [("cms", "0004_series_permissions"), ("courses", "0004_outgoing_message"),
                    ("partners", "0002_staff_calendar_feed"),
                    ("django_tasks_database", "0021_conditional_partial_index_ordering")]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
