from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("evaluation", "0003_drift_report_jobs")]

    operations = [
        migrations.AddField(
            model_name="evalrun",
            name="n_skipped",
            field=models.PositiveIntegerField(default=0, help_text="Eval items skipped, too long."),
        ),
        migrations.AddField(
            model_name="evalrun",
            name="skipped",
            field=models.JSONField(blank=True, default=list, help_text='[{"example_id", "reason"}]'),
        ),
    ]
