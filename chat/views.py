"""Pages: the chat (new or existing conversation), rename and delete, and the composer's
token count. Thin: access helper, service, render."""

from __future__ import annotations

import json
from dataclasses import asdict

from asgiref.sync import async_to_sync
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from webapp.usage.quotas.service import allowance

from . import catalog, context_window, conversations
from .access import NotFound, conversation_get_for_user
from .serializers import conversation_json
from .turns.selectors import conversation_state


def _conversation_or_404(request: HttpRequest, conversation_id: int):
    try:
        return conversation_get_for_user(request.user, conversation_id)
    except NotFound:
        raise Http404("No such conversation") from None


def _models_error(offer: catalog.Offer) -> str | None:
    if offer.no_key:
        return "Your team has no provider key yet: an admin adds one in Manage team → Provider keys."
    if offer.models is None:
        return "Grok's model list cannot be reached right now."
    if not offer.models:
        return "None of your team's provider keys offers a model right now: an admin checks them in Manage team."
    return None


def _page(request: HttpRequest, conversation=None) -> HttpResponse:
    offer = async_to_sync(catalog.offer_for)(request.user.active_team_id)
    models = offer.models
    state = conversation_state(conversation).frame if conversation else None  # its long texts come by socket
    return render(
        request,
        "chat/chat.html",
        {
            "conversation": conversation,
            "conversations": conversations.conversation_list(user=request.user),
            "boot": {
                "conversation": conversation_json(conversation) if conversation else None,
                "state": state,
                "models": [catalog.model_as_json(m, offer) for m in models or []],
                "models_error": _models_error(offer),
                "allowance": [
                    line.as_json() for line in allowance(user_id=request.user.pk, team=request.user.active_team)
                ],
            },
        },
    )


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return _page(request)


@login_required
def conversation_page(request: HttpRequest, conversation_id: int) -> HttpResponse:
    return _page(request, _conversation_or_404(request, conversation_id))


@login_required
@require_POST
def conversation_rename(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation_or_404(request, conversation_id)
    conversations.conversation_rename(conversation=conversation, title=request.POST.get("title", ""))
    return redirect("chat:conversation", conversation_id=conversation.pk)


@login_required
@require_POST
def conversation_delete(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversations.conversation_delete(conversation=_conversation_or_404(request, conversation_id))
    return redirect("chat:home")


# POST, though it changes nothing: the draft rides along, and a draft of MAX_MESSAGE_CHARS
# is too long for a URL (and does not belong in access logs).
@require_POST
def conversation_tokens(request: HttpRequest, conversation_id: int) -> JsonResponse:
    """How many tokens the conversation and the draft are, against the model's context window."""
    if not request.user.is_authenticated:
        return JsonResponse({"error": "Sign in first."}, status=401)
    try:
        conversation = conversation_get_for_user(request.user, conversation_id)
        body = json.loads(request.body)
        if not isinstance(body, dict):
            raise ValueError("The body must be a JSON object.")
        count = context_window.context_count(
            user=request.user,
            conversation=conversation,
            parent=body.get("parent"),
            model=body.get("model"),
            text=body.get("text", ""),
        )
    except NotFound:
        return JsonResponse({"error": "No such conversation."}, status=404)
    except ValueError as error:  # malformed JSON included
        return JsonResponse({"error": str(error)}, status=400)
    return JsonResponse(asdict(count))


__all__ = ["home", "conversation_page", "conversation_rename", "conversation_delete", "conversation_tokens"]
