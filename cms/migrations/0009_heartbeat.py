"""Heartbeats of the worker and the periodic jobs (cms.heartbeats). The city administrator role holds every
permission, so the role set-up of 0003 runs again to give it the new model's (the admin home panel needs
cms.view_heartbeat)."""

import importlib

from django.db import migrations, models

roles_0003 = importlib.import_module("cms.migrations.0003_roles")


class Migration(migrations.Migration):
    dependencies = [("cms", "0008_outreach_permissions")]

    operations = [
        migrations.CreateModel(
            name="Heartbeat",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=100, unique=True, verbose_name="name")),
                ("last_run_at", models.DateTimeField(verbose_name="last run")),
                ("last_ok_at", models.DateTimeField(blank=True, null=True, verbose_name="last successful run")),
                ("details", models.JSONField(blank=True, default=dict, help_text="What the last run reported (counts).",
                                             verbose_name="details")),
            ],
            options={"verbose_name": "heartbeat", "verbose_name_plural": "heartbeats", "ordering": ["name"]},
        ),
        migrations.RunPython(roles_0003.create_roles, migrations.RunPython.noop),
    ]
