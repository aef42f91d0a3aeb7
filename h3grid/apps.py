from django.apps import AppConfig


class H3GridConfig(AppConfig):
    name = "h3grid"
    verbose_name = "H3 analytics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported in ready(): job types load models, which exist only once every app is registered.
        from . import diagnostics, jobtypes

        jobtypes.register()
        diagnostics.register()
