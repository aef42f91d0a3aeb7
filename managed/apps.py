from django.apps import AppConfig


class ManagedConfig(AppConfig):
    name = "managed"
    verbose_name = "Managed datasets"
    default_auto_field = "django.db.models.BigAutoField"
