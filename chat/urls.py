from django.urls import path

from . import views

app_name = "chat"
urlpatterns = [
    path("", views.home, name="home"),
    path("c/<int:conversation_id>/", views.conversation_page, name="conversation"),
    path("c/<int:conversation_id>/rename", views.conversation_rename, name="rename"),
    path("c/<int:conversation_id>/delete", views.conversation_delete, name="delete"),
    path("c/<int:conversation_id>/tokens", views.conversation_tokens, name="tokens"),
]
