from django.apps import AppConfig


class PublishingConfig(AppConfig):
    name = "publishing"
    verbose_name = "Publishing (releases and review)"

    def ready(self) -> None:
        # actors: registered with the broker, which webhooks send to by name.
        from . import actors, diagnostics, jobtypes, signals  # noqa: F401  (signals: groups and permissions after migrate)

        jobtypes.register()
        diagnostics.register()

        from geoplatform.storage import blob_user_register

        from .selectors import blob_release_user

        blob_user_register("publishing.releases", blob_release_user)  # uploads never replace a release's source
