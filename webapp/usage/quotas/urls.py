from django.urls import path

from . import views

# Mounted under /manage/ in the console's namespace, beside the other apps' console pages.
urlpatterns = [
    path("quotas/", views.quotas, name="quotas"),
    path("quotas/save", views.quota_save, name="quota_save"),
    path("quotas/time-zone", views.time_zone_save, name="time_zone_save"),
]
