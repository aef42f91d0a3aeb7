from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("geoplatform", "0002_maintenance_record")]

    operations = [
        migrations.CreateModel(
            name="Observability",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
            ],
            options={
                "permissions": [
                    ("view_metrics", "Can read the Prometheus metrics (/metrics)"),
                    (
                        "view_debug",
                        "Can see internals (stack, SQL, task ids) in error bodies when debug mode is on",
                    ),
                ],
                "managed": False,
                "default_permissions": (),
            },
        ),
    ]
