"""Settings shared by every environment. Production differs only by environment."""

from __future__ import annotations

from typing import Any

from . import env
from .env import BASE_DIR

SECRET_KEY = env.get_str("SECRET_KEY")
DEBUG = env.get_bool("DEBUG", False)
ALLOWED_HOSTS = env.get_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.get_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_dramatiq",
    "guardian",
    "geoplatform.apps.GeoPlatformConfig",
    "ingest",
    "catalog",
    "features",
    "rasters",
    "styles",
    "climate",
    "h3grid",
    "publishing",
    "managed",
]

MIDDLEWARE = [
    "geoplatform.middleware.RequestContextMiddleware",
    # Off unless enabled (MiddlewareNotUsed): metrics per route (+ SQL kept for debug mode), traces.
    "geoplatform.metrics.MetricsMiddleware",
    "geoplatform.tracing.TracingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files (Swagger UI, Leaflet, admin) from the app server itself: no CDN, no
    # separate web server needed for `make run`.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "geoplatform.middleware.CommonMiddleware",  # absolute Location on the slash redirect
    "geoplatform.deployment.ReaderMethodsMiddleware",  # reader mode: 405 for writes (before CSRF's 403)
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "geoplatform.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "geoplatform.urls"
WSGI_APPLICATION = "geoplatform.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.database_from_url(env.get_str("DATABASE_URL", "postgresql://root@127.0.0.1:5432/geoplatform")),
}
# full: the whole platform. reader: only the read APIs (features, STAC, rasters, docs, health)
# as a role with SELECT grants only (geoplatform/deployment.py, docs/operations.md).
GEOPLATFORM_MODE = env.get_choice("MODE", ("full", "reader"), "full")
# Where a reader sends clients for writes (named in its 404/405 answers), e.g. https://geo-admin.example.org
GEOPLATFORM_WRITER_URL = env.get_str("WRITER_URL", "")
if GEOPLATFORM_MODE == "reader":
    # Unset reader URL (dev/test only): the application role, still with pgSTAC read-only.
    DATABASES["default"] = env.database_from_url(
        env.get_optional("DATABASE_READER_URL")
        or env.get_str("DATABASE_URL", "postgresql://root@127.0.0.1:5432/geoplatform"),
        pgstac_readonly=True,
    )
# The role that owns the schema and runs migrations (`manage.py migrate` switches to it);
# GEOPLATFORM_DATABASE_URL is the application role web and workers run as. Unset: one
# role does both (geoplatform/dbroles.py, docs/operations.md).
GEOPLATFORM_DATABASE_OWNER_URL = env.get_optional("DATABASE_OWNER_URL")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.get_str("STATIC_ROOT", str(BASE_DIR / "var" / "staticfiles"))

# Django 5.2 warns (gis.W001) that Debian 12's GDAL 3.6 is older than 3.9; GeoDjango's own
# GDAL bindings are only used for geometry fields, the heavy lifting uses rasterio/pyogrio.
SILENCED_SYSTEM_CHECKS = ["gis.W001"]

# --- API -------------------------------------------------------------------------------
# Read-only endpoints of the data APIs are public unless GEOPLATFORM_PUBLIC_READ=false;
# every write needs an authenticated account with the right permission.
GEOPLATFORM_PUBLIC_READ = env.get_bool("PUBLIC_READ", True)

REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["geoplatform.permissions.ReadPublicWriteAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "geoplatform.api.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "geoplatform.errors.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "geoplatform.negotiation.FormatNegotiation",
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "GeoPlatform API",
    "DESCRIPTION": "Files in, standard geospatial web APIs out: jobs, storage uploads, health.",
    "VERSION": "0.1.0",
    # ogctests and several OGC clients reject OpenAPI 3.1.
    "OAS_VERSION": "3.0.3",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {},
    # The plain-Django features views join the one document from their own OGC description.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "features.openapi.include_features_paths",
        "geoplatform.deployment.reader_schema_hook",  # last: a reader lists only what it serves
    ],
}

# --- Storage zones -----------------------------------------------------------------------
GEOPLATFORM_STORAGE_BACKEND = env.get_str("STORAGE_BACKEND", "local")
GEOPLATFORM_STORAGE_ROOT = env.get_str("STORAGE_ROOT", str(BASE_DIR / "var" / "storage"))
GEOPLATFORM_AZURE_CONNECTION_STRING = env.get_optional("AZURE_CONNECTION_STRING")
GEOPLATFORM_ZONES = {
    "bronze": env.get_str("BRONZE_CONTAINER", "bronze"),
    "silver": env.get_str("SILVER_CONTAINER", "silver"),
    "external": env.get_str("EXTERNAL_CONTAINER", "external"),
}
# Containers that clients may upload raw files into (all belong to the bronze zone).
GEOPLATFORM_UPLOAD_CONTAINERS = env.get_list("UPLOAD_CONTAINERS", [GEOPLATFORM_ZONES["bronze"]])
GEOPLATFORM_UPLOAD_MAX_BYTES = env.get_int("UPLOAD_MAX_BYTES", 2 * 1024**3)
# Jobs' local copies of blobs: one per blob version (ETag) per host, shared by its workers.
# Empty dir: <system temp>/geoplatform-blob-cache. Least recently used entries go beyond the size.
GEOPLATFORM_BLOB_CACHE_DIR = env.get_str("BLOB_CACHE_DIR", "")
GEOPLATFORM_BLOB_CACHE_MAX_BYTES = env.get_int("BLOB_CACHE_MAX_BYTES", 20 * 1024**3)
GEOPLATFORM_BLOB_CACHE_MAX_AGE_SECONDS = env.get_int("BLOB_CACHE_MAX_AGE_SECONDS", 6 * 3600)
# Pre-flight (inside the submit request) reads whole only the stream formats (GeoJSON, CSV,
# KML) up to this size; larger ones are checked by their head, then fully by the job.
GEOPLATFORM_PREFLIGHT_SCAN_BYTES = env.get_int("PREFLIGHT_SCAN_BYTES", 32 * 1024**2)
# Uploads larger than this stream to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 16 * 1024**2
DATA_UPLOAD_MAX_MEMORY_SIZE = 16 * 1024**2

# --- Health ------------------------------------------------------------------------------
# How long each web process reuses its readiness answer (GET /api/health): probes every
# second from several load balancers then cost one database/broker/storage round.
GEOPLATFORM_HEALTH_CACHE_SECONDS = env.get_float("HEALTH_CACHE_SECONDS", 1.0)

# --- Diagnostics (/api/diagnostics) --------------------------------------------------------
# Object counts per storage zone are listed at most once per this period per process, and
# never more than this many objects per container (then reported as truncated).
GEOPLATFORM_DIAGNOSTICS_STORAGE_CACHE_SECONDS = env.get_float("DIAGNOSTICS_STORAGE_CACHE_SECONDS", 300.0)
GEOPLATFORM_DIAGNOSTICS_STORAGE_MAX_OBJECTS = env.get_int("DIAGNOSTICS_STORAGE_MAX_OBJECTS", 10_000)

# --- Jobs and workers --------------------------------------------------------------------
GEOPLATFORM_BROKER_URL = env.get_str("BROKER_URL", "redis://127.0.0.1:6379/0")
GEOPLATFORM_TASK_MAX_RETRIES = env.get_int("TASK_MAX_RETRIES", 3)
GEOPLATFORM_RETRY_BASE_SECONDS = env.get_float("RETRY_BASE_SECONDS", 30.0)
GEOPLATFORM_RETRY_CAP_SECONDS = env.get_float("RETRY_CAP_SECONDS", 600.0)
GEOPLATFORM_TASK_TIME_LIMIT_SECONDS = env.get_int("TASK_TIME_LIMIT_SECONDS", 600)
GEOPLATFORM_LONG_TASK_TIME_LIMIT_SECONDS = env.get_int("LONG_TASK_TIME_LIMIT_SECONDS", 4 * 3600)
GEOPLATFORM_HEARTBEAT_SECONDS = env.get_float("HEARTBEAT_SECONDS", 10.0)
# A running task whose heartbeat is older than this is taken as orphaned by the janitor.
GEOPLATFORM_TASK_STALE_SECONDS = env.get_float("TASK_STALE_SECONDS", 120.0)
# A queued task whose message no worker took for this long is re-sent by the janitor.
GEOPLATFORM_TASK_LOST_SECONDS = env.get_float("TASK_LOST_SECONDS", 900.0)
GEOPLATFORM_JANITOR_INTERVAL_SECONDS = env.get_float("JANITOR_INTERVAL_SECONDS", 30.0)
# Finished jobs (completed, failed, cancelled) older than this many days are deleted by the
# janitor with their tasks, events and callback deliveries; 0 keeps them forever.
GEOPLATFORM_RETENTION_DAYS = env.get_float("RETENTION_DAYS", 90.0)
# Python's GIL switch interval in worker processes (seconds); see ingest/workers.py.
GEOPLATFORM_WORKER_SWITCH_INTERVAL = env.get_float("WORKER_SWITCH_INTERVAL", 0.0005)
# Tasks whose declared work (Stage.work_bytes) reaches this many bytes go to the 'long' queue,
# served by its own worker pool (scripts/pool.sh): a 2-hour raster never holds up short jobs.
GEOPLATFORM_LONG_WORK_BYTES = env.get_int("LONG_WORK_BYTES", 1024**3)
# A worker process exits after its current task once its resident memory passes this many MiB
# or it has run this many tasks (0: no limit); scripts/supervise.sh starts it again. Each pool
# of scripts/run.sh sets its own (GEOPLATFORM_WORKER_* for main, GEOPLATFORM_LONG_POOL_* for long).
GEOPLATFORM_WORKER_MAX_RSS_MB = env.get_int("WORKER_MAX_RSS_MB", 0)
GEOPLATFORM_WORKER_MAX_TASKS = env.get_int("WORKER_MAX_TASKS", 0)
# The pool this worker belongs to (shown with its heartbeat); set by scripts/pool.sh.
GEOPLATFORM_WORKER_POOL = env.get_str("WORKER_POOL", "main")
# Redis broker: a worker silent this long is taken as dead and its unacknowledged messages go
# back on their queue (checked in "maintenance", run on this many commands out of a million).
GEOPLATFORM_BROKER_HEARTBEAT_TIMEOUT_MS = env.get_int("BROKER_HEARTBEAT_TIMEOUT_MS", 60_000)
GEOPLATFORM_BROKER_MAINTENANCE_CHANCE = env.get_int("BROKER_MAINTENANCE_CHANCE", 1000)
GEOPLATFORM_CALLBACK_ALLOWED_HOSTS = env.get_list("CALLBACK_ALLOWED_HOSTS", [])
GEOPLATFORM_CALLBACK_MAX_ATTEMPTS = env.get_int("CALLBACK_MAX_ATTEMPTS", 5)
GEOPLATFORM_CALLBACK_TIMEOUT_SECONDS = env.get_float("CALLBACK_TIMEOUT_SECONDS", 10.0)
# Modules whose register() adds job types beyond the apps' own, e.g. ingest.jobtypes (the
# `hello` engine self-test: tests and benchmarks only, never a production default).
GEOPLATFORM_EXTRA_JOB_TYPES = env.get_list("EXTRA_JOB_TYPES", [])


def dramatiq_broker(url: str) -> dict[str, Any]:
    """Redis or RabbitMQ, chosen by the URL scheme."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        broker = "dramatiq.brokers.redis.RedisBroker"
    elif url.startswith(("amqp://", "amqps://")):
        broker = "dramatiq.brokers.rabbitmq.RabbitmqBroker"
    else:
        # Imported here: settings are read before any app is loaded.
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("GEOPLATFORM_BROKER_URL must start with redis:// or amqp://")
    options: dict[str, Any] = {"url": url}
    if broker.endswith("RedisBroker"):
        # Separate key spaces on one Redis: two test runs (or two deployments) on the same
        # database never take each other's messages.
        options["namespace"] = env.get_str("BROKER_NAMESPACE", "dramatiq")
        options["heartbeat_timeout"] = GEOPLATFORM_BROKER_HEARTBEAT_TIMEOUT_MS
        options["maintenance_chance"] = GEOPLATFORM_BROKER_MAINTENANCE_CHANCE
    return {
        "BROKER": broker,
        "OPTIONS": options,
        "MIDDLEWARE": [
            "dramatiq.middleware.AgeLimit",
            "dramatiq.middleware.TimeLimit",
            "dramatiq.middleware.Callbacks",
            "dramatiq.middleware.Pipelines",
            "dramatiq.middleware.Retries",
            "dramatiq.middleware.CurrentMessage",
            "django_dramatiq.middleware.DbConnectionsMiddleware",
            "ingest.workers.WorkerHeartbeatMiddleware",
            "geoplatform.tracing.ContextMiddleware",
            "ingest.workers.MemoryCeilingMiddleware",
        ],
    }


DRAMATIQ_BROKER = dramatiq_broker(GEOPLATFORM_BROKER_URL)
DRAMATIQ_AUTODISCOVER_MODULES = ["actors"]
# The scheduler (`manage.py run_scheduler`, managed/scheduler.py): one per deployment, locked in
# the database; a standby retries the lock this often (s); the active one checks it still holds it.
GEOPLATFORM_SCHEDULER_STANDBY_SECONDS = env.get_float("SCHEDULER_STANDBY_SECONDS", 15.0)
GEOPLATFORM_SCHEDULER_LOCK_CHECK_SECONDS = env.get_float("SCHEDULER_LOCK_CHECK_SECONDS", 5.0)
# Managed sources sharing a cron slot start up to this many seconds apart (fixed per source,
# never more than half the interval between two slots).
GEOPLATFORM_MANAGED_JITTER_SECONDS = env.get_float("MANAGED_JITTER_SECONDS", 900.0)

# Absolute URL prefix for links stored outside a request (STAC hrefs, job results), e.g.
# https://geo.example.org; relative paths when empty.
GEOPLATFORM_PUBLIC_BASE_URL = env.get_str("PUBLIC_BASE_URL", "")

# --- Vector data (features) ------------------------------------------------------------------
GEOPLATFORM_VECTOR_MAX_BYTES = env.get_int("VECTOR_MAX_BYTES", 2 * 1024**3)
# Total size a zip (Shapefile, KMZ) may expand to, and the per-member ratio taken for a bomb.
GEOPLATFORM_VECTOR_MAX_UNZIPPED_BYTES = env.get_int("VECTOR_MAX_UNZIPPED_BYTES", 8 * 1024**3)
GEOPLATFORM_VECTOR_MAX_ZIP_RATIO = env.get_float("VECTOR_MAX_ZIP_RATIO", 200.0)
GEOPLATFORM_VECTOR_CHUNK_ROWS = env.get_int("VECTOR_CHUNK_ROWS", 100_000)
# Collections up to this many features get an exact numberMatched under filters.
GEOPLATFORM_FEATURES_EXACT_COUNT_MAX = env.get_int("FEATURES_EXACT_COUNT_MAX", 500_000)
GEOPLATFORM_FEATURES_CACHE_SECONDS = env.get_int("FEATURES_CACHE_SECONDS", 60)
# Most features in one vector tile (the rest are dropped; X-Features-Dropped says how many).
GEOPLATFORM_FEATURES_TILE_MAX_FEATURES = env.get_int("FEATURES_TILE_MAX_FEATURES", 10_000)
# Made vector tiles kept per web process (MiB; 0: none), keyed by the collection's data version.
GEOPLATFORM_FEATURES_TILE_CACHE_MB = env.get_int("FEATURES_TILE_CACHE_MB", 32)
GEOPLATFORM_STYLES_GLYPHS_URL = env.get_str("STYLES_GLYPHS_URL", "")
GEOPLATFORM_STYLES_CACHE_SECONDS = env.get_int("STYLES_CACHE_SECONDS", 60)

# --- Rasters --------------------------------------------------------------------------------
# Pre-flight: files bigger than this, or with more pixels, are refused at submit.
GEOPLATFORM_RASTER_MAX_BYTES = env.get_int("RASTER_MAX_BYTES", 20 * 1024**3)
GEOPLATFORM_RASTER_MAX_PIXELS = env.get_int("RASTER_MAX_PIXELS", 4 * 10**9)
# Files at least this big go through process_raster by windows (long queue) unless processing=whole.
GEOPLATFORM_RASTER_LARGE_BYTES = env.get_int("RASTER_LARGE_BYTES", 2 * 1024**3)
# Extract / clip / preview: largest output image (width * height), largest preview side.
GEOPLATFORM_RASTER_EXTRACT_MAX_PIXELS = env.get_int("RASTER_EXTRACT_MAX_PIXELS", 4096 * 4096)
GEOPLATFORM_RASTER_PREVIEW_MAX_SIZE = env.get_int("RASTER_PREVIEW_MAX_SIZE", 2048)
# Cache-Control max-age of tiles; how long the API keeps an item's STAC document in memory.
GEOPLATFORM_RASTER_TILE_CACHE_SECONDS = env.get_int("RASTER_TILE_CACHE_SECONDS", 3600)
GEOPLATFORM_RASTER_ITEM_CACHE_SECONDS = env.get_float("RASTER_ITEM_CACHE_SECONDS", 10.0)
# How GDAL reads Azure blobs: "vsiaz" (connection string) or "sas" (/vsicurl/ to a SAS URL).
GEOPLATFORM_RASTER_AZURE_READ = env.get_str("RASTER_AZURE_READ", "vsiaz")
GEOPLATFORM_RASTER_SAS_SECONDS = env.get_int("RASTER_SAS_SECONDS", 900)
# Climate read API (climate.read): values one EDR/xarray answer may hold (413 above it).
GEOPLATFORM_CLIMATE_MAX_VALUES = env.get_int("CLIMATE_MAX_VALUES", 2_000_000)
# Datasets up to HOT_DATASET_BYTES are read once and kept decoded in memory (per process, LRU to HOT_TOTAL_BYTES).
GEOPLATFORM_CLIMATE_HOT_DATASET_BYTES = env.get_int("CLIMATE_HOT_DATASET_BYTES", 64 * 1024**2)
GEOPLATFORM_CLIMATE_HOT_TOTAL_BYTES = env.get_int("CLIMATE_HOT_TOTAL_BYTES", 256 * 1024**2)

# --- Basemap (maps people can read, offline) ---------------------------------------------
# An external XYZ template ({z}/{x}/{y}) for every map page instead of the platform's own
# basemap (/api/raster/basemap/...); empty = ours, which calls no outside server.
GEOPLATFORM_BASEMAP_URL = env.get_str("BASEMAP_URL", "")
GEOPLATFORM_BASEMAP_ATTRIBUTION = env.get_str("BASEMAP_ATTRIBUTION", "Natural Earth (public domain)")
# Our basemap's last native zoom (maps overzoom beyond it); rendered tiles kept in memory.
GEOPLATFORM_BASEMAP_MAXZOOM = env.get_int("BASEMAP_MAXZOOM", 8)
GEOPLATFORM_BASEMAP_CACHE_TILES = env.get_int("BASEMAP_CACHE_TILES", 2048)
# --- Climate ---------------------------------------------------------------------------------
# Opened datasets kept per process (keyed by the references' ETag), item cache, series size cap.
GEOPLATFORM_CLIMATE_DATASET_CACHE_SIZE = env.get_int("CLIMATE_DATASET_CACHE_SIZE", 32)
GEOPLATFORM_CLIMATE_ITEM_CACHE_SECONDS = env.get_float("CLIMATE_ITEM_CACHE_SECONDS", 5.0)
GEOPLATFORM_CLIMATE_MAX_FILES = env.get_int("CLIMATE_MAX_FILES", 5000)
GEOPLATFORM_CLIMATE_RECHUNK_MAX_BYTES = env.get_int("CLIMATE_RECHUNK_MAX_BYTES", 2 * 1024**3)
# Open datasets each web process keeps between tile requests (rasters/gdal.py): at most this
# many files, idle handles per file, seconds idle, and MiB in all (estimated per dataset: its
# tile index and its VSI read cache). These bound web memory, not GDAL's block cache (GDAL_CACHEMAX).
GEOPLATFORM_RASTER_POOL_FILES = env.get_int("RASTER_POOL_FILES", 32)
GEOPLATFORM_RASTER_POOL_IDLE_PER_FILE = env.get_int("RASTER_POOL_IDLE_PER_FILE", 4)
GEOPLATFORM_RASTER_POOL_IDLE_SECONDS = env.get_float("RASTER_POOL_IDLE_SECONDS", 120.0)
GEOPLATFORM_RASTER_POOL_MAX_MB = env.get_int("RASTER_POOL_MAX_MB", 64)

# --- Publishing ---------------------------------------------------------------------------
# Four-eyes rule: nobody approves a release they submitted, unless this is true.
GEOPLATFORM_ALLOW_SELF_APPROVAL = env.get_bool("ALLOW_SELF_APPROVAL", False)

# --- Observability (docs/operations.md) -----------------------------------------------------
# /metrics in Prometheus text: a scraper sends "Authorization: Bearer <token>", or an account
# holding geoplatform.view_metrics its API token. Several processes: PROMETHEUS_MULTIPROC_DIR.
GEOPLATFORM_METRICS_ENABLED = env.get_bool("METRICS_ENABLED", True)
GEOPLATFORM_METRICS_TOKEN = env.get_str("METRICS_TOKEN", "")
# OpenTelemetry traces over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT (the standard variable).
GEOPLATFORM_OTEL_ENABLED = env.get_bool("OTEL_ENABLED", False)
GEOPLATFORM_OTEL_SAMPLE_RATIO = env.get_float("OTEL_SAMPLE_RATIO", 1.0)
# Error bodies carry internals (stack, SQL, task ids) for accounts holding
# geoplatform.view_debug, never for anonymous callers. Production refuses it unless
# GEOPLATFORM_ALLOW_DEBUG_MODE=true (settings/prod.py).
GEOPLATFORM_DEBUG_MODE = env.get_bool("DEBUG_MODE", False)

# --- Managed datasets (managed/) ------------------------------------------------------------
# Seconds to connect / to wait for bytes from an external source (each request).
GEOPLATFORM_MANAGED_HTTP_TIMEOUT = env.get_float("MANAGED_HTTP_TIMEOUT", 10.0)
# Largest file a managed source may download (bytes).
GEOPLATFORM_MANAGED_MAX_BYTES = env.get_int("MANAGED_MAX_BYTES", 20 * 1024**3)
# How often an update waiting for its ingest job looks at it again (seconds).
GEOPLATFORM_MANAGED_WATCH_SECONDS = env.get_float("MANAGED_WATCH_SECONDS", 5.0)
# Names of the settings / environment variables that managed sources may send as a bearer token
# (credentials_setting). Only these: otherwise an operator could name any secret (SECRET_KEY,
# the database URL) and point a source at a server of theirs to receive it.
GEOPLATFORM_MANAGED_CREDENTIALS = env.get_list("MANAGED_CREDENTIALS", [])
# Good versions whose data is kept (live + previous ones, for rollback); older ones are retired.
GEOPLATFORM_MANAGED_KEEP_VERSIONS = env.get_int("MANAGED_KEEP_VERSIONS", 2)
# Default gate: a new version is held when its row/pixel count changes by more than this (%).
GEOPLATFORM_MANAGED_COUNT_CHANGE_PCT = env.get_float("MANAGED_COUNT_CHANGE_PCT", 20.0)

# --- Logging ------------------------------------------------------------------------------
GEOPLATFORM_LOG_LEVEL = env.get_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "geoplatform.logging.ContextFilter"}},
    "formatters": {
        "json": {"()": "geoplatform.logging.JsonFormatter"},
        "text": {"()": "geoplatform.logging.TextFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": env.get_str("LOG_FORMAT", "json"),
            "filters": ["context"],
        },
    },
    "root": {"handlers": ["console"], "level": GEOPLATFORM_LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "dramatiq": {"level": "WARNING"},
        # The scheduler's clock (dramatiq-crontab) logs every run of its 5 s lock check at INFO.
        "apscheduler": {"level": "WARNING"},
    },
}
