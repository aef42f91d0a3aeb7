"""The catalogue: pgSTAC access (only :mod:`catalog.pgstac` calls pgSTAC)."""

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_system_collections(sender: Any, **kwargs: Any) -> None:
    # Imported in ready(): app modules load models, which exist only once every app is registered.
    from . import pgstac, services

    # Also after `flush` (transactional tests); skipped until pgSTAC itself is installed.
    if pgstac.version() is not None:
        services.system_collections_ensure()
        services.platform_queryables_ensure()


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalogue (STAC)"

    def ready(self) -> None:
        # Imported in ready(): app modules load models, which exist only once every app is registered.
        from geoplatform import health

        from . import diagnostics, pgstac

        health.register("pgstac", pgstac.health)
        diagnostics.register()
        post_migrate.connect(_ensure_system_collections, sender=self, dispatch_uid="catalog.system_collections")
