from django.apps import AppConfig


class RastersConfig(AppConfig):
    name = "rasters"
    verbose_name = "Rasters (COG, tiles)"

    def ready(self) -> None:
        from ingest import registry

        from . import collection_jobs, jobtypes, selectors

        jobtypes.register()
        collection_jobs.register()
        registry.register_output_owners(registry.STAC_ITEM, selectors.item_owner_jobs)
        registry.register_output_owners(registry.STAC_COLLECTION, selectors.collection_owner_jobs)
