from django.apps import AppConfig


class StylesConfig(AppConfig):
    name = "styles"
    verbose_name = "Styles"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported in ready(): the hooks touch models, which exist once every app is registered.
        from . import hooks

        hooks.register()
