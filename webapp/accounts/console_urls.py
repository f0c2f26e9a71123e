from django.urls import path

from . import console

app_name = "manage"

urlpatterns = [
    path("", console.people, name="people"),
    path("people/<int:membership_id>/role", console.role, name="role"),
    path("people/<int:membership_id>/deactivate", console.deactivate, name="deactivate"),
    path("people/<int:membership_id>/reactivate", console.reactivate, name="reactivate"),
    path("people/<int:membership_id>/remove", console.remove, name="remove"),
    path("invitations/", console.invitations, name="invitations"),
    path("invitations/<int:invitation_id>/revoke", console.revoke, name="revoke"),
    path("team/", console.team, name="team"),
    path("audit/", console.audit, name="audit"),
]
