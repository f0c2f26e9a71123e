from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.urls import include, path

from webapp.accounts import console_urls as people_console
from webapp.accounts import views as account_views
from webapp.providers import console_urls as providers_console
from webapp.providers import views as provider_views
from webapp.usage.quotas import urls as usage_console
from webapp.usage.quotas import views as usage_views


def healthz(request):
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("accounts/login/", account_views.SignIn.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/keys/", provider_views.own_keys, name="own_keys"),
    path("accounts/keys/<int:credential_id>/delete", provider_views.own_key_delete, name="own_key_delete"),
    path("accounts/", include("webapp.accounts.urls")),
    # One console, three apps: people and invitations; provider keys and models; quotas and usage.
    path(
        "manage/",
        include((people_console.urlpatterns + providers_console.urlpatterns + usage_console.urlpatterns, "manage")),
    ),
    path("usage/allowance", usage_views.allowance_json, name="allowance"),
    path("", include("webapp.usage.reports.urls")),  # /manage/usage/ and /accounts/usage/
    path("invite/<str:token>/", account_views.invitation, name="invitation"),
    path("healthz", healthz, name="healthz"),
    path("", include("chat.urls")),
]
