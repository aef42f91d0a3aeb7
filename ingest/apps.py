from importlib import import_module

from django.apps import AppConfig
from django.conf import settings


class IngestConfig(AppConfig):
    name = "ingest"
    verbose_name = "Jobs"

    def ready(self) -> None:
        # Imported in ready(): app modules load models, which exist only once every app is registered.
        from geoplatform import health

        from . import actors, diagnostics, selectors  # noqa: F401  (actors: registered with the broker, sent by name)

        # Test-only job types (e.g. `hello`) come from a setting, never registered by default.
        for module in settings.GEOPLATFORM_EXTRA_JOB_TYPES:
            import_module(module).register()
        health.register("workers", selectors.workers_health, writer=True)
        diagnostics.register()
