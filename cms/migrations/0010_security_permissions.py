"""The city administrator role holds every permission: run the role set-up of 0003 again for the models of
django-axes (login attempts and lockouts), so administrators can review and clear lockouts."""

import importlib

from django.db import migrations

roles_0003 = importlib.import_module("cms.migrations.0003_roles")


class Migration(migrations.Migration):
    dependencies = [("cms", "0009_heartbeat"), ("axes", "0010_accessattemptexpiration")]
    operations = [migrations.RunPython(roles_0003.create_roles, migrations.RunPython.noop)]
