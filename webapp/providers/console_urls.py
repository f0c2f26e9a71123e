from django.urls import path

from . import console

# Mounted under /manage/ in the console's namespace, beside webapp.accounts.console_urls.
urlpatterns = [
    path("keys/", console.keys, name="keys"),
    path("keys/<int:credential_id>/replace", console.key_replace, name="key_replace"),
    path("keys/<int:credential_id>/enabled", console.key_enabled, name="key_enabled"),
    path("keys/<int:credential_id>/default", console.key_default, name="key_default"),
    path("keys/<int:credential_id>/check", console.key_check, name="key_check"),
    path("keys/<int:credential_id>/delete", console.key_delete, name="key_delete"),
    path("models/", console.models, name="models"),
    path("models/change", console.model_update, name="model_update"),
]
