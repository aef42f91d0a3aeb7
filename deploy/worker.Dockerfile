# A worker pool in a container (issue 12, EN6): GDAL, rasterio, xarray and the platform code,
# running scripts/pool.sh. UNTESTED here: `make run` is the tested path (docs/operations.md).
#
#   docker build -f deploy/worker.Dockerfile -t geoplatform-worker .
#   docker run --env-file .env -e GEOPLATFORM_WORKER_MAX_RSS_MB=2048 geoplatform-worker long --queues long --processes 1 --threads 2
#
# The container needs the same GEOPLATFORM_* settings as the web (database, broker, storage);
# it serves no HTTP. rasterio and pyogrio wheels bring their own GDAL; the system GDAL (for
# GeoDjango's geometry fields) comes from Debian.
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends gdal-bin libgdal32 libgeos-c1v5 libproj25 libpq5 \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=geoplatform.settings.prod \
    MALLOC_ARENA_MAX=2 dramatiq_worker_timeout=100
WORKDIR /app
COPY requirements/ requirements/
# xarray (climate work) is pinned here until an app's requirements carry it.
RUN python -m venv /app/.venv && /app/.venv/bin/pip install --no-cache-dir -r requirements/base.txt \
    && (grep -q '^xarray==' requirements/base.txt || /app/.venv/bin/pip install --no-cache-dir xarray==2025.6.1)
COPY . .
RUN useradd --system --home /app geoplatform && mkdir -p /app/.cache/pools && chown -R geoplatform /app/.cache
USER geoplatform

ENTRYPOINT ["scripts/pool.sh"]
CMD ["main"]
