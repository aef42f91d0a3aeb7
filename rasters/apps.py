from django.apps import AppConfig


class RastersConfig(AppConfig):
    name = "rasters"
    verbose_name = "Rasters (COG, tiles)"

    def ready(self) -> None:
        from . import collection_jobs, jobtypes

        jobtypes.register()
        collection_jobs.register()
