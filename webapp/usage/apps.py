from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "webapp.usage"
    label = "usage"
    verbose_name = "Quotas, rate limits and usage"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (the receivers register on import)
