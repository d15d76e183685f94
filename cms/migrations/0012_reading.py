"""Readings (ふりがな) staff can correct (cms.furigana): the model, the permissions of the roles that edit them, and
the readings of Kawasaki's ward names, the default reference data."""

import importlib

from django.db import migrations, models

import cms.models

roles_0003 = importlib.import_module("cms.migrations.0003_roles")

WARD_READINGS = {"川崎区": "かわさきく", "幸区": "さいわいく", "中原区": "なかはらく", "高津区": "たかつく",
                 "宮前区": "みやまえく", "多摩区": "たまく", "麻生区": "あさおく"}


def set_up(apps, schema_editor):
    roles_0003.create_roles(apps, schema_editor)  # the city administrator holds every permission
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    officer = Group.objects.filter(name=roles_0003.CITY_PROGRAMME_OFFICER).first()
    if officer is not None:
        officer.permissions.add(*Permission.objects.filter(content_type__app_label="cms",
                                                           content_type__model="reading"))
    Reading = apps.get_model("cms", "Reading")
    for text, reading in WARD_READINGS.items():
        Reading.objects.get_or_create(text=text, defaults={"reading": reading})


class Migration(migrations.Migration):

    dependencies = [
        ("cms", "0011_two_factor_and_invitation_permissions"),
    ]

    operations = [
        migrations.CreateModel(
            name="Reading",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("text", models.CharField(help_text="For example: 麻生区", max_length=50, unique=True,
                                          verbose_name="word as written")),
                ("reading", models.CharField(help_text="For example: あさおく", max_length=100,
                                             validators=[cms.models._hiragana_only],
                                             verbose_name="reading (hiragana)")),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated")),
            ],
            options={
                "verbose_name": "reading (furigana)",
                "verbose_name_plural": "readings (furigana)",
                "ordering": ["text"],
            },
        ),
        migrations.RunPython(set_up, migrations.RunPython.noop),
    ]
