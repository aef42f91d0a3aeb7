from django.apps import AppConfig


class ManagedConfig(AppConfig):
    name = "managed"
    verbose_name = "Managed datasets"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported in ready(): app modules load models, which exist only once every app is registered.
        from geoplatform import health

        from . import actors, diagnostics, update  # noqa: F401  (actors: registered with the broker)
        from .handlers import http  # noqa: F401  (registers the generic HTTP file handler)

        update.register()
        diagnostics.register()
        health.register("managed", diagnostics.health_check, writer=True)
        # The specific handlers (Natural Earth, WDPA, FATHOM, STAC).
        from .handlers import fathom, natural_earth, stac, wdpa  # noqa: F401
