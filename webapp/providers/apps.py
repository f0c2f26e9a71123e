from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "webapp.providers"
    label = "providers"
    verbose_name = "Provider keys and models"

    def ready(self) -> None:
        from . import checks, signals  # noqa: F401  (system checks and start-up hooks register on import)
