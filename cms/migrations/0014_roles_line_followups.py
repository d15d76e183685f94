"""Permissions on this version's models — courses 0010 (LINE link codes and webhook events, undeliverable contacts)
and outreach 0009 (follow-ups, their questions and answers, the skills frameworks and their themes): the role set-up
of 0003 re-run, so the administrator holds them all, programme officers manage them like the other data and analysts
view them, as for every data model."""

import importlib

from django.db import migrations

roles_0003 = importlib.import_module("cms.migrations.0003_roles")


class Migration(migrations.Migration):
    dependencies = [("cms", "0013_partner_summary_permissions"), ("courses", "0010_line_delivery_followup"),
                    ("outreach", "0009_follow_up")]
    operations = [migrations.RunPython(roles_0003.create_roles, migrations.RunPython.noop)]
