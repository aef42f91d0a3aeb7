#!/usr/bin/env bash
# `make run`: set up, migrate, then serve (gunicorn) with two Dramatiq worker pools (main, long) and the janitor.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
"$ROOT/scripts/setup.sh" run
"$ROOT/scripts/services.sh" run

if [ ! -f .env ]; then
  log "writing .env with a fresh random secret key (never committed)"
  umask 077
  printf 'GEOPLATFORM_SECRET_KEY=%s\n' "$("$PY" -c 'import secrets; print(secrets.token_urlsafe(50))')" > .env
fi
if [ -z "${GEOPLATFORM_DATABASE_URL:-}" ] && ! grep -q '^GEOPLATFORM_DATABASE_URL=' .env; then
  # Two roles (docs/operations.md): the owner migrates, web and workers run as the app role.
  # Trust auth locally ignores the passwords; a server that asks for them gets these.
  log "adding the database owner and application role URLs to .env (random passwords)"
  pw() { "$PY" -c 'import secrets; print(secrets.token_urlsafe(24))'; }
  printf 'GEOPLATFORM_DATABASE_OWNER_URL=postgresql://geoplatform_owner:%s@127.0.0.1:5432/geoplatform\n' "$(pw)" >> .env
  printf 'GEOPLATFORM_DATABASE_URL=postgresql://geoplatform_app:%s@127.0.0.1:5432/geoplatform\n' "$(pw)" >> .env
fi
set -a; source .env; set +a
if [ -n "${GEOPLATFORM_READER_BIND:-}" ] && [ -z "${GEOPLATFORM_DATABASE_READER_URL:-}" ]; then
  # The reader's read-only role (docs/operations.md, "Reader deployment"): scripts/db.sh creates it.
  log "adding the read-only reader role URL to .env (random password)"
  reader_url="$("$PY" - <<'PY'
import os, secrets
from urllib.parse import urlparse
u = urlparse(os.environ.get("GEOPLATFORM_DATABASE_URL") or "postgresql://root@127.0.0.1:5432/geoplatform")
print(u._replace(netloc=f"geoplatform_reader:{secrets.token_urlsafe(24)}@{u.hostname or '127.0.0.1'}:{u.port or 5432}").geturl())
PY
)"
  printf 'GEOPLATFORM_DATABASE_READER_URL=%s\n' "$reader_url" >> .env
  export GEOPLATFORM_DATABASE_READER_URL="$reader_url"
fi
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-geoplatform.settings.prod}"
# Production settings, served as plain http on this machine: no secure-only cookies and no
# redirect to https (set both to true, or unset them, behind TLS).
export GEOPLATFORM_SECURE_COOKIES="${GEOPLATFORM_SECURE_COOKIES:-false}"
export GEOPLATFORM_SECURE_SSL_REDIRECT="${GEOPLATFORM_SECURE_SSL_REDIRECT:-false}"
BIND="${GEOPLATFORM_BIND:-127.0.0.1:8000}"
HOST="${BIND%:*}"
READER_BIND="${GEOPLATFORM_READER_BIND:-}"
READER_HOST="${READER_BIND%:*}"
export GEOPLATFORM_ALLOWED_HOSTS="${GEOPLATFORM_ALLOWED_HOSTS:-$HOST,${READER_HOST:+$READER_HOST,}127.0.0.1,localhost}"

"$ROOT/scripts/db.sh"
"$PY" manage.py collectstatic --noinput -v 0

# Metrics from every gunicorn and Dramatiq process, summed at each scrape of /metrics
# (prometheus-client's multiprocess mode). Emptied at start: files of a previous run's
# processes would be counted again (docs/operations.md).
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-$ROOT/var/prometheus}"
rm -rf "$PROMETHEUS_MULTIPROC_DIR"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"

pids=()
cleanup() { log "stopping"; kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

export dramatiq_worker_timeout=100
# Two worker pools (scripts/pool.sh), each process restarted when it exits (scripts/supervise.sh):
# - main: every queue but long (short jobs, callbacks, webhooks);
# - long: the long queue alone (raster windows, COGs of rasters decoding past
#   GEOPLATFORM_LONG_WORK_BYTES, climate), with its own processes and memory ceiling, so a
#   2-hour job never holds up short ones.
# GDAL's block cache defaults to 5% of RAM per process and stays held: building the COG of a
# 732 MiB raster peaked at 2.2 GiB with it, 0.84 GiB at 256 MB (bench/raster_large_memory.py).
# A process past its ceiling (MiB resident) or task count leaves after its task and restarts.
# The long pool takes no more messages than it has threads (prefetch = threads): a task held
# behind a 2-hour one would wait there while another process or host sits idle.
"$ROOT/scripts/pool.sh" main \
  --processes "${GEOPLATFORM_WORKER_PROCESSES:-2}" --threads "${GEOPLATFORM_WORKER_THREADS:-4}" \
  --max-rss-mb "${GEOPLATFORM_WORKER_MAX_RSS_MB:-1024}" --max-tasks "${GEOPLATFORM_WORKER_MAX_TASKS:-0}" \
  --gdal-cachemax "${GDAL_CACHEMAX:-256}" --prefetch "${GEOPLATFORM_WORKER_PREFETCH:-0}" &
pids+=($!)
"$ROOT/scripts/pool.sh" long --queues long \
  --processes "${GEOPLATFORM_LONG_POOL_PROCESSES:-1}" --threads "${GEOPLATFORM_LONG_POOL_THREADS:-2}" \
  --max-rss-mb "${GEOPLATFORM_LONG_POOL_MAX_RSS_MB:-2048}" --max-tasks "${GEOPLATFORM_LONG_POOL_MAX_TASKS:-0}" \
  --gdal-cachemax "${GEOPLATFORM_LONG_POOL_GDAL_CACHEMAX:-256}" --prefetch "${GEOPLATFORM_LONG_POOL_PREFETCH:-${GEOPLATFORM_LONG_POOL_THREADS:-2}}" &
pids+=($!)
"$ROOT/scripts/supervise.sh" janitor "$PY" manage.py janitor --loop &
pids+=($!)
# The scheduler of managed datasets (dramatiq-crontab's tick; one active per database, others stand by).
"$ROOT/scripts/supervise.sh" scheduler "$PY" manage.py run_scheduler &
pids+=($!)
# Web processes keep open COGs and their decoded blocks for tiles (rasters/gdal.py: a pool
# bounded by GEOPLATFORM_RASTER_POOL_*, files and MiB). 2 processes x 4 threads with a 64 MB
# block cache each and two malloc arenas: tiles 2.3x titiler's throughput at about the same
# total memory (4 x 2 at 128 MB: 1.96x at 1.6x its memory; docs/benchmarks.md).
MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}" GDAL_CACHEMAX="${GEOPLATFORM_WEB_GDAL_CACHEMAX:-64}" \
"$VENV/bin/gunicorn" geoplatform.wsgi:application --bind "$BIND" \
  --workers "${GEOPLATFORM_WEB_WORKERS:-2}" --threads "${GEOPLATFORM_WEB_THREADS:-4}" \
  --access-logfile - --timeout 120 &
pids+=($!)

if [ -n "$READER_BIND" ]; then
  # The read APIs alone, as the read-only role, beside the full platform: the split a
  # production deployment uses (docs/operations.md, "Reader deployment"). No worker of its own.
  GEOPLATFORM_MODE=reader GEOPLATFORM_WRITER_URL="${GEOPLATFORM_WRITER_URL:-http://$BIND}" \
  GDAL_CACHEMAX="${GEOPLATFORM_WEB_GDAL_CACHEMAX:-128}" \
  "$VENV/bin/gunicorn" geoplatform.wsgi:application --bind "$READER_BIND" \
    --workers "${GEOPLATFORM_READER_WEB_WORKERS:-2}" --threads "${GEOPLATFORM_WEB_THREADS:-2}" \
    --access-logfile - --timeout 120 &
  pids+=($!)
fi

wait_port "$HOST" "${BIND##*:}" gunicorn 60
if [ -n "$READER_BIND" ]; then wait_port "$READER_HOST" "${READER_BIND##*:}" "gunicorn (reader)" 60; fi
cat <<MSG

GeoPlatform is running:
  home        http://$BIND/
  Swagger UI  http://$BIND/api/docs/
  admin       http://$BIND/admin/   (create a login: .venv/bin/python manage.py createsuperuser)
  health      http://$BIND/api/health   (details: /api/health/details, token with geoplatform.view_health)
${READER_BIND:+  reader      http://$READER_BIND/api/stac/   (read APIs only, read-only database role)
}Plain http for local use: GEOPLATFORM_SECURE_SSL_REDIRECT=$GEOPLATFORM_SECURE_SSL_REDIRECT, GEOPLATFORM_SECURE_COOKIES=$GEOPLATFORM_SECURE_COOKIES.
Get an API token:  .venv/bin/python manage.py createserviceaccount NAME
Stop with Ctrl-C.
MSG
wait -n "${pids[@]}"
