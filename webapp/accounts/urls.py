from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("profile/", views.profile, name="profile"),
    path("profile/password/", views.password_change, name="password"),
    path("profile/instructions/", views.instructions, name="instructions"),
    path("profile/sign-out-others/", views.sign_out_others, name="sign_out_others"),
    path("team/", views.team_choose, name="team_switch"),
    path("signup/<int:team_id>/", views.signup, name="signup"),
]
