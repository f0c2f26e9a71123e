"""Which models a team offers, and which credential a turn with one of them uses.

Read in one go per team (``team_snapshot``: its enabled keys opened, their catalogues, the
admins' choices) so that a web process can keep it for a few seconds and route every turn
from memory. The order a turn tries keys in, documented in the README and shown on the
person's keys page: the person's own key for that provider when the team allows personal
keys; else the key the model is pinned to; else the team's default key; else any other
enabled team key that serves the model; keys whose last check failed come after the rest.
A team with no key of its own uses the deployment's upstream (the local simulator, in the
single-machine mode without a key), with every model it lists."""

from __future__ import annotations

from dataclasses import dataclass, field

from chat.grok import LanguageModel, ProviderConfig
from webapp.accounts.models import Team

from .connection import language_model, provider_config
from .models import Credential, TeamModel


class NoCredential(Exception):
    """The team has keys, but none that is enabled serves this model."""


class ModelDisabled(Exception):
    """The team's admins turned this model off."""


@dataclass(frozen=True)
class Key:
    """One enabled credential, opened: what a turn needs to go through it."""

    id: int
    label: str
    personal: bool
    is_default: bool
    failed: bool
    config: ProviderConfig = field(repr=False)
    serves: dict[str, str] = field(default_factory=dict)  # model id or alias → the upstream's id


@dataclass(frozen=True)
class Route:
    credential_id: int
    credential_label: str
    personal: bool
    config: ProviderConfig = field(repr=False)
    upstream_model: str = ""


@dataclass(frozen=True)
class TeamSnapshot:
    team_id: int | None
    has_keys: bool  # False: the deployment's upstream serves the team
    models: list[LanguageModel] | None  # None when ``has_keys`` is False
    hidden: frozenset[str] = frozenset()
    default_model: str | None = None
    default_effort: str | None = None
    keys: tuple[Key, ...] = ()  # the team's enabled keys, default first
    pins: dict[str, int] = field(default_factory=dict)
    max_output: dict[str, int] = field(default_factory=dict)  # model → the admins' cap
    personal_allowed: bool = False
    unsynced: tuple[int, ...] = ()  # enabled keys whose models were never read (XAI_API_KEY's, at first)

    def route(self, model: str, personal: tuple[Key, ...] = ()) -> Route | None:
        """The key a turn with ``model`` uses; None: the deployment's upstream. Raises
        ModelDisabled or NoCredential."""
        if model in self.hidden:
            raise ModelDisabled(model)
        own = [k for k in personal if self.personal_allowed]
        if not self.has_keys:  # the deployment's upstream, unless the person's own key serves it
            key = next((k for k in own if k.serves.get(model) and not k.failed), None)
            return None if key is None else Route(key.id, key.label, True, key.config, key.serves[model])
        pinned = [k for k in self.keys if k.id == self.pins.get(model)]
        ordered = own + pinned + [k for k in self.keys if k.is_default] + list(self.keys)
        ordered.sort(key=lambda k: k.failed)  # stable: a failing key only after working ones
        for key in ordered:
            upstream = key.serves.get(model)
            if upstream:
                return Route(key.id, key.label, key.personal, key.config, upstream)
        raise NoCredential(model)

    def key_order(self, personal: tuple[Key, ...] = ()) -> list[str]:
        """The order a person's turns try keys in, in words."""
        own = [f"your own key “{k.label}”" for k in personal if self.personal_allowed]
        if not self.has_keys:
            return [*own, "the deployment's own upstream"]
        default = [f"the team's default key “{k.label}”" for k in self.keys if k.is_default]
        others = [f"the team's key “{k.label}”" for k in self.keys if not k.is_default]
        return own + ["the key a model is pinned to, where an admin pinned one"] + default + others


def _key(credential: Credential) -> Key:
    serves: dict[str, str] = {}
    for entry in credential.catalogue or []:
        upstream = entry.get("upstream_id") or entry.get("id")
        for name in [entry.get("id"), *(entry.get("aliases") or [])]:
            if name:
                serves.setdefault(name, upstream)
    return Key(
        credential.pk,
        credential.label,
        credential.user_id is not None,
        credential.is_default,
        credential.status == Credential.Status.FAILED,
        provider_config(credential),
        serves,
    )


def team_snapshot(team_id: int | None) -> TeamSnapshot:
    if team_id is None:
        return TeamSnapshot(None, False, None)
    choices = list(TeamModel.objects.filter(team_id=team_id))
    hidden = frozenset(c.model for c in choices if not c.enabled)
    default = next((c for c in choices if c.is_default), None)
    pins = {c.model: c.credential_id for c in choices if c.credential_id}
    max_output = {c.model: c.max_output_tokens for c in choices if c.max_output_tokens}
    personal_allowed = bool(Team.objects.filter(pk=team_id).values_list("personal_keys_allowed", flat=True).first())
    rows = list(Credential.objects.filter(team_id=team_id, user__isnull=True).order_by("-is_default", "id"))
    common = {
        "hidden": hidden,
        "default_model": default.model if default else None,
        "default_effort": (default.default_effort or None) if default else None,
        "pins": pins,
        "max_output": max_output,
        "personal_allowed": personal_allowed,
    }
    if not rows:
        return TeamSnapshot(team_id, False, None, **common)
    enabled = [c for c in rows if c.enabled]
    seen: dict[str, LanguageModel] = {}
    for credential in enabled:
        for entry in credential.catalogue or []:
            model = language_model(entry)
            if model.id not in hidden:
                seen.setdefault(model.id, model)
    unsynced = tuple(c.pk for c in enabled if c.synced_at is None and c.status == Credential.Status.UNCHECKED)
    return TeamSnapshot(
        team_id,
        True,
        sorted(seen.values(), key=lambda m: m.id),
        keys=tuple(_key(c) for c in enabled),
        unsynced=unsynced,
        **common,
    )


def personal_keys(team_id: int, user_id: int) -> tuple[Key, ...]:
    """A person's own enabled keys in the team (used only where the team allows them)."""
    rows = Credential.objects.filter(team_id=team_id, user_id=user_id, enabled=True).order_by("id")
    return tuple(_key(c) for c in rows)


def key_order_for(team_id: int, user_id: int) -> list[str]:
    return team_snapshot(team_id).key_order(personal_keys(team_id, user_id))
