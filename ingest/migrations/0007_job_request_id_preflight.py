from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ingest", "0006_publish_without_review")]

    operations = [
        migrations.AddField(
            model_name="job",
            name="request_id",
            field=models.CharField(blank=True, db_default="", default="", max_length=128),
        ),
        migrations.AddField(
            model_name="job",
            name="traceparent",
            field=models.CharField(blank=True, db_default="", default="", max_length=128),
        ),
        migrations.AddField(
            model_name="job",
            name="preflight",
            field=models.JSONField(blank=True, null=True),
        ),
    ]
