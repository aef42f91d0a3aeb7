#!/usr/bin/env bash
# `make test`: set up, start services, run lint/type/structure checks and the whole suite.
# Extra arguments go to pytest (then only pytest runs): scripts/test.sh tests/ingest -x
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
"$ROOT/scripts/setup.sh" test
"$ROOT/scripts/services.sh" test

export DJANGO_SETTINGS_MODULE=geoplatform.settings.test
export GEOPLATFORM_SECRET_KEY="${GEOPLATFORM_SECRET_KEY:-$("$PY" -c 'import secrets; print(secrets.token_urlsafe(50))')}"
export GEOPLATFORM_DATABASE_URL="${GEOPLATFORM_DATABASE_URL:-postgresql://root@127.0.0.1:5432/geoplatform}"
export GEOPLATFORM_BROKER_URL="${GEOPLATFORM_BROKER_URL:-redis://127.0.0.1:6379/15}"
# This run's own Redis key space: a second test run on the machine cannot steal its messages.
export GEOPLATFORM_BROKER_NAMESPACE="${GEOPLATFORM_BROKER_NAMESPACE:-geoplatform-test-$$}"
export GEOPLATFORM_STORAGE_BACKEND="${GEOPLATFORM_STORAGE_BACKEND:-azure}"
export GEOPLATFORM_AZURE_CONNECTION_STRING="${GEOPLATFORM_AZURE_CONNECTION_STRING:-$AZURITE_CONNECTION_STRING}"
export GEOPLATFORM_STORAGE_ROOT="${GEOPLATFORM_STORAGE_ROOT:-$ROOT/var/test-storage}"

if [ $# -gt 0 ]; then
  exec "$VENV/bin/pytest" "$@"
fi

log "ruff"
"$VENV/bin/ruff" check .
log "mypy"
"$VENV/bin/mypy"
log "import-linter (app layers)"
"$VENV/bin/lint-imports"
log "django checks, missing migrations, OpenAPI schema"
"$PY" manage.py check --fail-level WARNING
# makemigrations compares models with migration files; its history check reads the server's
# maintenance database, which always exists (`make test` never creates the one in the URL).
GEOPLATFORM_DATABASE_URL="${GEOPLATFORM_DATABASE_URL%/*}/postgres" "$PY" -W error::RuntimeWarning manage.py makemigrations --check --dry-run
"$PY" manage.py spectacular --fail-on-warn --validate --file /dev/null

log "pytest (broker: $GEOPLATFORM_BROKER_URL)"
"$VENV/bin/pytest" --durations=25  # the slowest tests, to keep the suite well under 20 min
log "reader pass: the read tests again on a reader deployment (GEOPLATFORM_MODE=reader, read-only role)"
GEOPLATFORM_MODE=reader "$VENV/bin/pytest" -m "reader and not writer" tests
log "every end-to-end (worker) test again on RabbitMQ"
GEOPLATFORM_BROKER_URL="amqp://guest:guest@127.0.0.1:5672/geoplatform_test" "$VENV/bin/pytest" -m broker tests
log "all checks passed"
