from django.apps import AppConfig


class H3GridConfig(AppConfig):
    name = "h3grid"
    verbose_name = "H3 analytics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import home

        home.register()  # the catalogue home page lists the H3 stat datasets (h3api)
