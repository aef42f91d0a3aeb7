from django.apps import AppConfig


class GeoPlatformConfig(AppConfig):
    name = "geoplatform"
    verbose_name = "GeoPlatform core"

    def ready(self) -> None:
        from . import health

        health.register_core_checks()
