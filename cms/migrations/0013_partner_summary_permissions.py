"""Permissions on outreach.PartnerSummary (outreach 0008, the annual report's partner comparison): the role set-up
of 0003 re-run, so the administrator holds them all, programme officers manage the summaries like the other
outreach data and analysts view them, as for every data model."""

import importlib

from django.db import migrations

roles_0003 = importlib.import_module("cms.migrations.0003_roles")


class Migration(migrations.Migration):
    dependencies = [("cms", "0012_reading"), ("outreach", "0008_partner_summary")]
    operations = [migrations.RunPython(roles_0003.create_roles, migrations.RunPython.noop)]
