"""Booking references (受付番号) for every registration: existing rows get a unique random one, then the column
becomes required and unique. Written to work the same on SQLite and PostgreSQL: add the column nullable, fill it
row by row in Python, then tighten it."""

from django.db import migrations, models

import courses.references


def assign_references(apps, schema_editor):
    Registration = apps.get_model("courses", "Registration")
    pks = list(Registration.objects.filter(reference__isnull=True).values_list("pk", flat=True))
    taken = set(Registration.objects.filter(reference__isnull=False).values_list("reference", flat=True))
    references = courses.references.new_references(len(pks), taken=taken)
    rows = [Registration(pk=pk, reference=reference) for pk, reference in zip(pks, references, strict=True)]
    Registration.objects.bulk_update(rows, ["reference"], batch_size=500)


class Migration(migrations.Migration):

    dependencies = [
        ('courses', '0006_participant_residence'),
    ]

    operations = [
        migrations.AddField(
            model_name='registration',
            name='reference',
            field=models.CharField(editable=False, max_length=8, null=True, verbose_name='booking reference'),
        ),
        migrations.RunPython(assign_references, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='registration',
            name='reference',
            field=models.CharField(default=courses.references.new_reference, editable=False, max_length=8,
                                   unique=True, verbose_name='booking reference'),
        ),
    ]
