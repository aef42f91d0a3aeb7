from django.apps import AppConfig


class GeoPlatformConfig(AppConfig):
    name = "geoplatform"
    verbose_name = "GeoPlatform core"

    def ready(self) -> None:
        # Imported in ready(): app modules load models, which exist only once every app is registered.
        from . import diagnostics_core, health

        health.register_core_checks()
        diagnostics_core.register()
