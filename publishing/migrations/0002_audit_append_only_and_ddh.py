"""The database refuses UPDATE and DELETE on the audit log; the `ddh` platform exists.

TRUNCATE is left possible on purpose: it is an operator's (and the test runner's)
whole-table reset, never something application code issues.
"""

from typing import Any

from django.db import migrations

TRIGGER_SQL = """
CREATE OR REPLACE FUNCTION publishing_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'publishing_releaseaudit is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER publishing_releaseaudit_append_only
    BEFORE UPDATE OR DELETE ON publishing_releaseaudit
    FOR EACH ROW EXECUTE FUNCTION publishing_audit_append_only();
"""

REVERSE_SQL = """
DROP TRIGGER IF EXISTS publishing_releaseaudit_append_only ON publishing_releaseaudit;
DROP FUNCTION IF EXISTS publishing_audit_append_only();
"""


def seed_ddh(apps: Any, schema_editor: Any) -> None:
    Platform = apps.get_model("publishing", "Platform")
    Platform.objects.get_or_create(
        code="ddh", defaults={"name": "Data Hub (DDH)", "description": "The data hub's B2B integration."}
    )


class Migration(migrations.Migration):
    dependencies = [("publishing", "0001_initial")]

    operations = [
        migrations.RunSQL(TRIGGER_SQL, REVERSE_SQL),
        migrations.RunPython(seed_ddh, migrations.RunPython.noop),
    ]
