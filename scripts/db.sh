#!/usr/bin/env bash
# Create the database named in GEOPLATFORM_DATABASE_URL (with PostGIS) and migrate
# (Django + pgSTAC). Rerunnable.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
"$PY" - <<'PY'
import os
import psycopg
from urllib.parse import urlparse
from geoplatform.settings import env  # loads .env
url = urlparse(os.environ.get("GEOPLATFORM_DATABASE_URL") or "postgresql://root@127.0.0.1:5432/geoplatform")
name = url.path.lstrip("/")
admin = psycopg.connect(host=url.hostname, port=url.port or 5432, user=url.username or "root",
                        password=url.password, dbname="postgres", autocommit=True)
if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
    admin.execute(f'CREATE DATABASE "{name}"')
    print(f"created database {name}")
admin.close()
with psycopg.connect(host=url.hostname, port=url.port or 5432, user=url.username or "root",
                     password=url.password, dbname=name, autocommit=True) as conn:
    conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
PY
"$PY" manage.py migrate --noinput -v 0
