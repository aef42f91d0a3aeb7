from django.apps import AppConfig


class RastersConfig(AppConfig):
    name = "rasters"
    verbose_name = "Rasters (COG, tiles)"

    def ready(self) -> None:
        # Imported in ready(): app modules load models, which exist only once every app is registered.
        from ingest import registry

        from . import datasets, jobtypes, selectors

        jobtypes.register()
        datasets.register()
        registry.register_output_owners(registry.STAC_ITEM, selectors.item_owner_jobs)
        registry.register_output_owners(registry.STAC_COLLECTION, selectors.collection_owner_jobs)
