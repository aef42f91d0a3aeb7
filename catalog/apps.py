from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalogue (STAC)"

    def ready(self) -> None:
        from geoplatform import health

        from . import pgstac

        health.register("pgstac", pgstac.health)
