# Worker heartbeats carry their pool and memory (issue 12: long pool, memory ceilings).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ingest", "0007_job_request_id_preflight"),
    ]

    operations = [
        migrations.AddField(
            model_name="workerheartbeat", name="pool", field=models.CharField(default="main", max_length=50)
        ),
        migrations.AddField(model_name="workerheartbeat", name="rss_bytes", field=models.BigIntegerField(default=0)),
        migrations.AddField(
            model_name="workerheartbeat", name="peak_rss_bytes", field=models.BigIntegerField(default=0)
        ),
        migrations.AddField(model_name="workerheartbeat", name="tasks_done", field=models.IntegerField(default=0)),
        migrations.AddField(model_name="workerheartbeat", name="max_rss_mb", field=models.IntegerField(default=0)),
        migrations.AddField(model_name="workerheartbeat", name="max_tasks", field=models.IntegerField(default=0)),
    ]
