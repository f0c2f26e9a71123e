from django.apps import AppConfig
from django.conf import settings


class ChatConfig(AppConfig):
    name = "chat"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out
        from django.db.models.signals import post_save

        # A socket lives only as long as its sign-in: every change that can end one
        # makes that user's sockets, on every web process, check theirs.
        user_logged_out.connect(_signed_out, dispatch_uid="chat.sockets.signed_out")
        post_save.connect(_user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="chat.sockets.user_saved")


def _signed_out(sender, request, user, **kwargs) -> None:
    from . import events

    if user is not None:
        # Sent before the session is flushed: name it, since it still looks valid now.
        events.sessions_changed_on_commit(user.pk, ended=request.session.session_key)


def _user_saved(sender, instance, created, update_fields=None, **kwargs) -> None:
    from . import events

    if created or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return  # a sign-in, not a change that could end one
    events.sessions_changed_on_commit(instance.pk)
