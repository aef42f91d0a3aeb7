#!/usr/bin/env bash
# The database and its two roles (geoplatform/dbroles.py, docs/operations.md): create the
# owner and application roles, the database (with PostGIS) and their grants, migrate
# (Django + pgSTAC) as the owner, then grant the app role what the migrations made.
# Rerunnable. Without GEOPLATFORM_DATABASE_OWNER_URL one role does everything.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
"$PY" -m geoplatform.dbroles prepare
"$PY" manage.py migrate --noinput -v 0  # switches to the owner role itself
"$PY" -m geoplatform.dbroles grant
