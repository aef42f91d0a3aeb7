"""`make test`'s missing-migrations check runs cleanly on a machine where the database in
GEOPLATFORM_DATABASE_URL does not exist (it printed "database geoplatform does not exist")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def test_makemigrations_check_needs_no_project_database() -> None:
    lines = [
        line
        for line in (ROOT / "scripts" / "test.sh").read_text().splitlines()
        if "manage.py makemigrations" in line and not line.lstrip().startswith("#")
    ]
    assert len(lines) == 1, lines
    db = settings.DATABASES["default"]
    auth = f"{db['USER']}@" if db["USER"] else ""
    env = {
        **os.environ,
        "PY": sys.executable,
        "DJANGO_SETTINGS_MODULE": "geoplatform.settings.test",
        "GEOPLATFORM_ENV_FILE": "/nonexistent",
        "GEOPLATFORM_DATABASE_URL": f"postgresql://{auth}{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/no_such_db_x",
    }
    result = subprocess.run(["bash", "-c", lines[0]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "does not exist" not in result.stderr + result.stdout
    assert "No changes detected" in result.stdout
