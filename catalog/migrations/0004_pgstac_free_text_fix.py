"""pgSTAC free text (q) also matches items without a description (see catalog.pgstac.free_text_fix)."""

from typing import Any

from django.db import migrations


def fix(apps: Any, schema_editor: Any) -> None:
    # Imported here: a migration loads app code only when it runs, never when it is imported.
    from catalog.pgstac import free_text_fix

    free_text_fix(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_stac_transactions")]
    operations = [migrations.RunPython(fix, migrations.RunPython.noop, elidable=False)]
