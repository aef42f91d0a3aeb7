"""The system collections every pipeline publishes into (idempotent)."""

from typing import Any

from django.db import migrations


def ensure(apps: Any, schema_editor: Any) -> None:
    # Imported here: a migration loads app code only when it runs, never when it is imported.
    from catalog.services import system_collections_ensure

    system_collections_ensure()


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_pgstac")]
    operations = [migrations.RunPython(ensure, migrations.RunPython.noop, elidable=False)]
