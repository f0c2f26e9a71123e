"""Which models a team offers, and which credential a turn with one of them uses.

The order, documented in the README and shown on the profile page: the person's own key
for that provider when the team allows personal keys and the person has one that serves
the model; else the credential the model is pinned to; else the team's default
credential; else any other enabled team credential that serves the model. A team with no
credential at all uses the deployment's upstream (the local simulator, in the
single-machine mode without a key), with every model it lists."""

from __future__ import annotations

from dataclasses import dataclass

from chat.grok import LanguageModel, ProviderConfig

from .connection import language_model, provider_config
from .models import Credential, TeamModel


class NoCredential(Exception):
    """The team has credentials, but none that is enabled serves this model."""


@dataclass(frozen=True)
class Route:
    credential_id: int
    credential_label: str
    personal: bool
    config: ProviderConfig
    upstream_model: str


@dataclass(frozen=True)
class TeamCatalogue:
    """What the team's picker offers (None: the team has no credential of its own)."""

    models: list[LanguageModel] | None
    hidden: frozenset[str]
    default_model: str | None
    default_effort: str | None
    unsynced: tuple[int, ...] = ()  # enabled credentials whose models were never read (XAI_API_KEY's, at first)


def _usable(team_id: int, user_id: int | None, personal_allowed: bool) -> list[Credential]:
    rows = Credential.objects.filter(team_id=team_id, enabled=True)
    if personal_allowed and user_id is not None:
        rows = rows.filter(user_id__in=[user_id]) | rows.filter(user__isnull=True)
    else:
        rows = rows.filter(user__isnull=True)
    return list(rows.order_by("-is_default", "id"))


def _personal_allowed(team_id: int) -> bool:
    from webapp.accounts.models import Team

    return bool(Team.objects.filter(pk=team_id).values_list("personal_keys_allowed", flat=True).first())


def team_catalogue(team_id: int | None, user_id: int | None = None) -> TeamCatalogue:
    if team_id is None:
        return TeamCatalogue(None, frozenset(), None, None)
    choices = {c.model: c for c in TeamModel.objects.filter(team_id=team_id)}
    hidden = frozenset(m for m, c in choices.items() if not c.enabled)
    default = next((c for c in choices.values() if c.is_default), None)
    credentials = _usable(team_id, user_id, _personal_allowed(team_id))
    default_model = default.model if default else None
    default_effort = (default.default_effort or None) if default else None
    if not Credential.objects.filter(team_id=team_id, user__isnull=True).exists():
        return TeamCatalogue(None, hidden, default_model, default_effort)
    seen: dict[str, LanguageModel] = {}
    for credential in credentials:
        for entry in credential.catalogue or []:
            model = language_model(entry)
            if model.id not in hidden:
                seen.setdefault(model.id, model)
    unsynced = tuple(c.pk for c in credentials if c.synced_at is None and c.status == Credential.Status.UNCHECKED)
    return TeamCatalogue(sorted(seen.values(), key=lambda m: m.id), hidden, default_model, default_effort, unsynced)


def route_for(team_id: int | None, user_id: int | None, model: str) -> Route | None:
    """The credential a turn with ``model`` uses; None: the deployment's upstream (the team has none)."""
    if team_id is None:
        return None
    if not Credential.objects.filter(team_id=team_id, user__isnull=True).exists():
        return None
    credentials = _usable(team_id, user_id, _personal_allowed(team_id))
    pinned = TeamModel.objects.filter(team_id=team_id, model=model).values_list("credential_id", flat=True).first()

    def serves(credential: Credential) -> str | None:
        for entry in credential.catalogue or []:
            if entry.get("id") == model or model in (entry.get("aliases") or []):
                return entry.get("upstream_id") or entry.get("id")
        return None

    ordered = (
        [c for c in credentials if c.user_id == user_id]
        + [c for c in credentials if c.pk == pinned and c.user_id is None]
        + [c for c in credentials if c.is_default]
        + [c for c in credentials if c.user_id is None]
    )
    for credential in ordered:
        upstream = serves(credential)
        if upstream:
            return Route(
                credential.pk, credential.label, credential.user_id is not None, provider_config(credential), upstream
            )
    raise NoCredential(model)


def key_order_for(team_id: int, user_id: int) -> list[str]:
    """The order this person's turns try keys in, in words (the profile and keys pages show it)."""
    credentials = _usable(team_id, user_id, _personal_allowed(team_id))
    own = [f"your own key “{c.label}”" for c in credentials if c.user_id == user_id]
    team = [c for c in credentials if c.user_id is None]
    default = [f"the team's default key “{c.label}”" for c in team if c.is_default]
    others = [f"the team's key “{c.label}”" for c in team if not c.is_default]
    if not team and not Credential.objects.filter(team_id=team_id, user__isnull=True).exists():
        return own + ["the deployment's own upstream"]
    return own + ["a model's pinned key, where an admin pinned one"] + default + others
