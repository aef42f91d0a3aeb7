from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "ingest"
    verbose_name = "Jobs"

    def ready(self) -> None:
        from geoplatform import health

        from . import jobtypes, selectors

        jobtypes.register_builtin()
        health.register("workers", selectors.workers_health)
