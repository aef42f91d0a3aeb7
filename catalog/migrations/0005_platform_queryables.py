"""Queryables for the platform's own item properties and the common STAC extensions' numeric
fields, and for each collection those its stored items call for, so pgSTAC sorts and compares
them by type (see catalog.queryables)."""

from typing import Any

from django.db import migrations


def ensure(apps: Any, schema_editor: Any) -> None:
    # Imported here: a migration loads app code only when it runs, never when it is imported.
    from catalog import services

    services.platform_queryables_ensure()
    services.queryables_derive()


class Migration(migrations.Migration):
    dependencies = [("catalog", "0004_pgstac_free_text_fix")]
    operations = [migrations.RunPython(ensure, migrations.RunPython.noop, elidable=False)]
