from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("features", "0004_dataset_dense_ids"),
    ]

    operations = [
        migrations.AddField(
            model_name="vectordataset",
            name="spatially_ordered",
            field=models.BooleanField(default=False),
        ),
    ]
