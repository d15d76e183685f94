"""The city administrator role holds every permission: run the role set-up of 0003 again for the models of
two-factor sign-in (django-otp's authenticator and backup-code devices) and of staff invitations."""

import importlib

from django.db import migrations

roles_0003 = importlib.import_module("cms.migrations.0003_roles")


class Migration(migrations.Migration):
    dependencies = [
        ("cms", "0010_security_permissions"),
        ("otp_totp", "0003_add_timestamps"),
        ("otp_static", "0003_add_timestamps"),
        ("partners", "0003_staff_invitation"),
    ]
    operations = [migrations.RunPython(roles_0003.create_roles, migrations.RunPython.noop)]
