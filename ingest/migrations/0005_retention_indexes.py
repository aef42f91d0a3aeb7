from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0004_job_submitter"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="job",
            index=models.Index(
                condition=models.Q(("status__in", ["completed", "failed", "cancelled"])),
                fields=["finished_at"],
                name="job_finished_retention_idx",
            ),
        ),
    ]
