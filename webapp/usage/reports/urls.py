from django.urls import path

from . import views

# Mounted at the site's root: the team's report sits in the console, a person's own beside their account.
app_name = "usage"

urlpatterns = [
    path("manage/usage/", views.team_usage, name="team"),
    path("manage/usage/csv", views.team_usage_csv, name="team_csv"),
    path("accounts/usage/", views.own_usage, name="own"),
    path("accounts/usage/csv", views.own_usage_csv, name="own_csv"),
]
