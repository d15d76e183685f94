"""Permissions on the outreach models (outreach 0003): the city roles get theirs by re-running the role set-up of
0003 (programme officers all outreach data, analysts view). Then:

- ward-office and call-centre staff record support-desk consultations and type in paper self-assessments;
- partner staff enter self-assessments at their own classes (the views scope them to their partner's sessions);
- the dashboard permission goes to the city's programme officers and analysts and to partner managers, who see
  their own partner's figures only.
"""

import importlib

from django.db import migrations

roles_0003 = importlib.import_module("cms.migrations.0003_roles")

ASSESSMENT = ["view_selfassessment", "add_selfassessment", "change_selfassessment",
              "view_skillscore", "add_skillscore", "change_skillscore", "view_skillitem"]
OUTREACH_PERMISSIONS = {
    roles_0003.CITY_PROGRAMME_OFFICER: ["view_dashboard"],
    roles_0003.CITY_ANALYST: ["view_dashboard"],
    roles_0003.CALL_CENTRE_OPERATOR: ["view_consultation", "add_consultation", "change_consultation",
                                      "view_consultationtopic", *ASSESSMENT],
    roles_0003.PARTNER_MANAGER: ["view_dashboard", *ASSESSMENT],
    roles_0003.PARTNER_INSTRUCTOR: ASSESSMENT,
}


def grant(apps, schema_editor):
    roles_0003.create_roles(apps, schema_editor)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in OUTREACH_PERMISSIONS.items():
        group = Group.objects.get(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="outreach", codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [("cms", "0007_session_staff_permissions"), ("outreach", "0006_consultation_updated_at")]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
