from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.urls import include, path

from webapp.accounts import views as account_views


def healthz(request):
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("accounts/login/", account_views.SignIn.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/", include("webapp.accounts.urls")),
    path("manage/", include("webapp.accounts.console_urls")),
    path("invite/<str:token>/", account_views.invitation, name="invitation"),
    path("healthz", healthz, name="healthz"),
    path("", include("chat.urls")),
]
