"""The team's models page: what its credentials serve, and the admins' choices about each."""

from __future__ import annotations

from dataclasses import dataclass

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.dispatch import Signal

from chat.grok import GrokError, LanguageModel
from webapp.accounts.audit import audit_record
from webapp.accounts.models import Team

from .connection import check_client, deployment_config, language_model
from .models import Credential, TeamModel

team_models_changed = Signal()
"""Sent (with ``team_id``) after a team's keys or model choices change: this process's
copies are dropped at once; other processes read them again within their cache time."""


class ChoiceError(ValueError):
    pass


def changed(team_id: int) -> None:
    team_models_changed.send(sender=Team, team_id=team_id)


@dataclass
class ModelRow:
    model: LanguageModel
    choice: TeamModel | None
    credentials: list[Credential]  # the team's credentials that serve it

    default: bool = False  # the picker's default: the admins' choice, else the deployment's

    @property
    def enabled(self) -> bool:
        return self.choice is None or self.choice.enabled

    @property
    def prices(self) -> str:
        m = self.model
        cached = f" · cached ${m.cached_input_usd_per_million:.2f}" if m.cached_prompt_price else ""
        return f"${m.input_usd_per_million:.2f} in{cached} · ${m.output_usd_per_million:.2f} out"

    @property
    def max_output(self) -> int:
        return (self.choice.max_output_tokens if self.choice else None) or settings.MAX_OUTPUT_TOKENS

    @property
    def context(self) -> str:
        return f"{self.model.context_window:,} tokens of context" if self.model.context_window else ""


def team_model_rows(team: Team) -> list[ModelRow]:
    choices = {c.model: c for c in TeamModel.objects.filter(team=team)}
    credentials = list(Credential.objects.filter(team=team, user__isnull=True))
    served: dict[str, tuple[LanguageModel, list[Credential]]] = {}
    for credential in credentials:
        for entry in credential.catalogue or []:
            model = language_model(entry)
            served.setdefault(model.id, (model, []))[1].append(credential)
    if not credentials:  # the deployment's upstream (the simulator) serves the team
        try:
            listed = async_to_sync(check_client(deployment_config()).language_models)()
        except GrokError:
            listed = []
        served = {m.id: (m, []) for m in listed}
    rows = [ModelRow(model, choices.get(name), creds) for name, (model, creds) in sorted(served.items())]
    offered = [r.model.id for r in rows if r.enabled]
    chosen = next((r.model.id for r in rows if r.choice and r.choice.is_default and r.enabled), None)
    fallback = settings.GROK_DEFAULT_MODEL if settings.GROK_DEFAULT_MODEL in offered else (offered or [None])[0]
    for row in rows:
        row.default = row.model.id == (chosen or fallback)
    return rows


@dataclass
class ImageRow:
    id: str
    price: int  # as the listing gives it: its scale is not documented (reference/xai-api.md 6.x)
    choice: TeamModel | None
    credentials: list[Credential]

    @property
    def enabled(self) -> bool:
        return self.choice is None or self.choice.enabled


def team_image_rows(team: Team) -> list[ImageRow]:
    """The image generation models the team's keys serve (for image turns)."""
    choices = {c.model: c for c in TeamModel.objects.filter(team=team)}
    served: dict[str, tuple[int, list[Credential]]] = {}
    for credential in Credential.objects.filter(team=team, user__isnull=True):
        for entry in credential.image_catalogue or []:
            served.setdefault(entry["id"], (int(entry.get("image_price") or 0), []))[1].append(credential)
    return [ImageRow(name, price, choices.get(name), creds) for name, (price, creds) in sorted(served.items())]


def model_choice_change(
    *, team: Team, actor, model: str, enabled=None, credential=None, default=None, effort=None, max_output=None
) -> str:
    rows = {row.model.id: row for row in team_model_rows(team)}
    row = rows.get(model)
    if row is None:
        image = next((r for r in team_image_rows(team) if r.id == model), None)
        if image is None:
            raise ChoiceError("That model is not offered by any of the team's keys.")
        return _image_choice_change(team=team, actor=actor, model=model, enabled=enabled)
    with transaction.atomic():
        choice, _ = TeamModel.objects.select_for_update().get_or_create(team=team, model=model)
        said = []
        if enabled is not None:
            choice.enabled = enabled == "1"
            if not choice.enabled and choice.is_default:
                raise ChoiceError("Choose another default model before turning this one off.")
            said.append("turned on" if choice.enabled else "turned off")
        if credential is not None:
            if credential == "":
                choice.credential = None
                said.append("uses the usual key order")
            else:
                pinned = next((c for c in row.credentials if str(c.pk) == credential), None)
                if pinned is None:
                    raise ChoiceError("That key does not serve this model.")
                choice.credential = pinned
                said.append(f"pinned to “{pinned.label}”")
        if default == "1":
            if not choice.enabled:
                raise ChoiceError("Turn the model on before making it the default.")
            TeamModel.objects.filter(team=team, is_default=True).exclude(pk=choice.pk).update(is_default=False)
            choice.is_default = True
            said.append("is the default")
        if effort is not None:
            if effort and effort not in row.model.reasoning_efforts:
                raise ChoiceError(
                    f"{model} accepts reasoning effort: {', '.join(row.model.reasoning_efforts) or 'none'}."
                )
            choice.default_effort = effort
            if row.default:  # the effective default becomes the chosen one, with its effort
                TeamModel.objects.filter(team=team, is_default=True).exclude(pk=choice.pk).update(is_default=False)
                choice.is_default = True
            said.append(f"default effort {effort or 'the model’s own'}")
        if max_output is not None:
            choice.max_output_tokens = _max_output(max_output)
            said.append(f"replies up to {choice.max_output_tokens or settings.MAX_OUTPUT_TOKENS:,} tokens")
        choice.save()
        audit_record(
            team=team,
            actor=actor,
            action="model.change",
            subject=model,
            details={
                "enabled": choice.enabled,
                "default": choice.is_default,
                "default_effort": choice.default_effort,
                "pinned_to": choice.credential.label if choice.credential else None,
                "max_output_tokens": choice.max_output_tokens,
            },
        )
    changed(team.pk)
    return f"{model}: {', '.join(said) or 'unchanged'}."


def _max_output(value: str) -> int | None:
    """ "" (the deployment's MAX_OUTPUT_TOKENS) or a whole number of tokens within reason."""
    value = value.strip().replace(",", "")
    if not value:
        return None
    if not value.isdigit() or not 1 <= int(value) <= settings.MAX_OUTPUT_TOKENS_CEILING:
        raise ChoiceError(
            f"The most a reply may write is a whole number of tokens from 1 to {settings.MAX_OUTPUT_TOKENS_CEILING:,}."
        )
    return int(value)


def _image_choice_change(*, team: Team, actor, model: str, enabled) -> str:
    if enabled is None:
        raise ChoiceError("An image model can only be turned on or off.")
    with transaction.atomic():
        choice, _ = TeamModel.objects.select_for_update().get_or_create(team=team, model=model)
        choice.enabled = enabled == "1"
        choice.save()
        audit_record(team=team, actor=actor, action="model.change", subject=model, details={"enabled": choice.enabled})
    changed(team.pk)
    return f"{model}: {'turned on' if choice.enabled else 'turned off'}."
