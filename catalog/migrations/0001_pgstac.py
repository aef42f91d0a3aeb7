"""Install pgSTAC with pypgstac's own migrations (also in the test database)."""

from typing import Any

from django.db import migrations


def install_pgstac(apps: Any, schema_editor: Any) -> None:
    # Imported here: a migration loads app code only when it runs, never when it is imported.
    from catalog.pgstac import migrate

    migrate(schema_editor.connection)


class Migration(migrations.Migration):
    atomic = False
    dependencies: list[tuple[str, str]] = []
    operations = [migrations.RunPython(install_pgstac, migrations.RunPython.noop, elidable=False)]
