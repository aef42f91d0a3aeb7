from django.db import migrations, models

# The h3 schema holds the grid and the statistics: plain tables, loaded with COPY by the jobs.
CELLS = """
CREATE SCHEMA IF NOT EXISTS h3;
CREATE TABLE IF NOT EXISTS h3.cell (
    cell bigint PRIMARY KEY,
    res smallint NOT NULL,
    parent bigint
);
CREATE INDEX IF NOT EXISTS cell_res_idx ON h3.cell (res);
CREATE INDEX IF NOT EXISTS cell_parent_idx ON h3.cell (parent);
CREATE TABLE IF NOT EXISTS h3.cell_country (
    cell bigint NOT NULL,
    iso3 char(3) NOT NULL,
    share real NOT NULL,
    PRIMARY KEY (cell, iso3)
);
CREATE INDEX IF NOT EXISTS cell_country_iso3_idx ON h3.cell_country (iso3, cell);
"""
DROP = "DROP TABLE IF EXISTS h3.cell_country; DROP TABLE IF EXISTS h3.cell;"


class Migration(migrations.Migration):
    initial = True

    dependencies: list[tuple[str, str]] = []

    operations = [
        migrations.RunSQL(CELLS, DROP),
        migrations.CreateModel(
            name="StatDataset",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("slug", models.SlugField(max_length=63, unique=True)),
                ("title", models.CharField(blank=True, max_length=255)),
                (
                    "source_kind",
                    models.CharField(
                        choices=[("raster", "Raster (STAC item)"), ("vector", "Vector collection")], max_length=16
                    ),
                ),
                ("source_ref", models.CharField(max_length=255)),
                ("resolutions", models.JSONField(default=list)),
                ("columns", models.JSONField(default=list)),
                ("units", models.CharField(blank=True, max_length=64)),
                ("storage", models.JSONField(default=dict)),
                ("provenance", models.JSONField(default=dict)),
                ("job_id", models.CharField(blank=True, max_length=64)),
                ("computed_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={"ordering": ["slug"]},
        ),
    ]
