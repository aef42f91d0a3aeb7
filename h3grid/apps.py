from django.apps import AppConfig


class H3GridConfig(AppConfig):
    name = "h3grid"
    verbose_name = "H3 analytics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported in ready(): app modules load models, which exist only once every app is registered.
        from . import diagnostics, home, jobtypes, jobtypes_stats

        jobtypes.register()
        jobtypes_stats.register()
        diagnostics.register()
        home.register()  # the catalogue home page lists the H3 stat datasets
