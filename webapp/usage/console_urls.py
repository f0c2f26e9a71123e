from django.urls import path

from . import console

# Mounted under /manage/ in the console's namespace, beside the other apps' console pages.
urlpatterns = [
    path("quotas/", console.quotas, name="quotas"),
    path("quotas/save", console.quota_save, name="quota_save"),
    path("quotas/time-zone", console.time_zone_save, name="time_zone_save"),
]
