from django.apps import AppConfig


class ClimateConfig(AppConfig):
    name = "climate"
    verbose_name = "Climate (NetCDF / Zarr, virtual)"

    def ready(self) -> None:
        # Imported in ready(): app modules load models, which exist only once every app is registered.
        from ingest import registry

        from . import gpstore, home, jobtypes, selectors

        gpstore.register()
        jobtypes.register()
        home.register()  # the catalogue home page lists climate datasets
        # Its own kind: STAC_ITEM's lookup is the rasters app's (one lookup per kind).
        registry.register_output_owners(selectors.OUTPUT_KIND, selectors.item_owner_jobs)
