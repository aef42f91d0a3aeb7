from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies: list[tuple[str, str]] = []

    operations = [
        migrations.RunSQL("CREATE SCHEMA IF NOT EXISTS geo", reverse_sql=migrations.RunSQL.noop),
        migrations.CreateModel(
            name="VectorDataset",
            fields=[
                ("collection_id", models.CharField(max_length=63, primary_key=True, serialize=False)),
                ("title", models.CharField(blank=True, default="", max_length=300)),
                ("description", models.TextField(blank=True, default="")),
                ("geometry_type", models.CharField(max_length=32)),
                ("feature_count", models.BigIntegerField(default=0)),
                ("bbox", models.JSONField(blank=True, help_text="[minx, miny, maxx, maxy] in CRS84.", null=True)),
                ("temporal_property", models.CharField(blank=True, default="", max_length=63)),
                (
                    "temporal_extent",
                    models.JSONField(blank=True, help_text="[start, end] ISO 8601 or null.", null=True),
                ),
                ("attributes", models.JSONField(default=list, help_text="[{name, type, source_name}] in table order.")),
                (
                    "source",
                    models.JSONField(default=dict, help_text="Where the data came from (container, file, layer, crs)."),
                ),
                ("stac_item", models.BooleanField(default=False)),
                ("job_id", models.CharField(blank=True, default="", max_length=64)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={"ordering": ["collection_id"]},
        ),
    ]
