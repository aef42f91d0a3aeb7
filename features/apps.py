from django.apps import AppConfig


class FeaturesConfig(AppConfig):
    name = "features"
    verbose_name = "Vector features"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported in ready(): app modules load models, which exist only once every app is registered.
        from . import datasets, diagnostics, jobtypes

        jobtypes.register()
        datasets.register()
        diagnostics.register()
        from . import hooks, tiles

        hooks.register_conformance(tiles.CONFORMANCE)
        hooks.register_collection_links(tiles.collection_links)
