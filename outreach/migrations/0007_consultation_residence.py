from django.db import migrations, models


def residence_of_known_wards(apps, schema_editor):
    """A consultation with a ward of residence was from the city. Without one, "outside the city" and "not given"
    were one value before this migration: they stay blank (not recorded), never "prefer not to say"."""
    Consultation = apps.get_model("outreach", "Consultation")
    Consultation.objects.filter(residence_ward__isnull=False).update(residence="city")


class Migration(migrations.Migration):

    dependencies = [
        ("outreach", "0006_consultation_updated_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="consultation",
            name="residence",
            field=models.CharField(
                blank=True, choices=[("city", "A ward of the city"), ("outside", "Outside the city"),
                                     ("declined", "Prefer not to say"), ("", "Not recorded")],
                help_text="A ward of the city, outside the city, or prefer not to say.", max_length=10,
                verbose_name="residence"),
        ),
        migrations.RunPython(residence_of_known_wards, migrations.RunPython.noop),
    ]
