from django.apps import AppConfig


class FeaturesConfig(AppConfig):
    name = "features"
    verbose_name = "Vector features"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import jobtypes

        jobtypes.register()
