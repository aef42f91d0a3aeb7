from django.apps import AppConfig


class PublishingConfig(AppConfig):
    name = "publishing"
    verbose_name = "Publishing (releases and review)"

    def ready(self) -> None:
        from . import jobtypes, signals  # noqa: F401  (signals: groups and permissions after migrate)

        jobtypes.register()
