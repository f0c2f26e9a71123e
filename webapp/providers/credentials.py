"""Adding, replacing, checking and removing a team's provider credentials.

Every change is audited (never with the secret) in the transaction that makes it."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from chat.grok import GrokError
from chat.grok.providers import vertex_base_url
from chat.grok.vertex import LOCAL_HOSTS, check_service_account
from webapp.accounts.audit import audit_record
from webapp.accounts.models import AuditEvent, Team

from . import addresses, connection, vault
from .catalogue import changed as catalogue_changed
from .models import Credential
from .presets import CHOICES, Preset

log = logging.getLogger(__name__)

SECRET_MAX = 20_000  # a service account's JSON is about 2,400 characters
GOOGLE_TOKEN_HOST = "oauth2.googleapis.com"
CHECKS_PER_PASS = 50  # a pass stays short; the rest are due at the next


class CredentialError(ValueError):
    """Input a credential cannot be made from; the text says what to fix and holds no secret."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


@dataclass
class CredentialInput:
    preset: str
    label: str = ""
    secret: str = ""
    base_url: str = ""
    vertex_project: str = ""
    vertex_location: str = ""
    account_id: str = ""  # Cloudflare AI Gateway
    gateway_id: str = ""


@sensitive_variables()
def _cleaned(data: CredentialInput, *, trusted: bool = False) -> dict:
    try:
        choice = CHOICES[Preset(data.preset)]
    except ValueError:
        raise CredentialError("Choose a provider.", "preset") from None
    secret = (data.secret or "").strip()
    if not secret:
        raise CredentialError(f"Paste the {choice.secret_name}.", "secret")
    if len(secret) > SECRET_MAX:
        raise CredentialError(f"That {choice.secret_name} is too long to be one.", "secret")
    fields = {"preset": choice.value, "kind": choice.kind, "label": (data.label or "").strip()[:100]}
    base_url = (data.base_url or "").strip()
    if choice.kind == Credential.Kind.VERTEX:
        account = _service_account(secret)
        project = (data.vertex_project or account.project_id or "").strip()
        if not project:
            raise CredentialError("Give the Google Cloud project id.", "vertex_project")
        location = (data.vertex_location or "global").strip()
        fields.update(
            vertex_project=project,
            vertex_location=location,
            base_url=base_url or vertex_base_url(project, location),
            last_four=vault.last_four(account.private_key_id or ""),
        )
        fields["label"] = fields["label"] or f"Vertex AI · {project}"
    else:
        if not base_url:
            try:
                base_url = choice.info.build_url(account_id=data.account_id.strip(), gateway_id=data.gateway_id.strip())
            except ValueError:
                raise CredentialError(
                    "Give the gateway's base URL."
                    if choice.info.preset == Preset.CUSTOM
                    else "Give the gateway's account id and gateway id.",
                    "base_url",
                ) from None
        fields["base_url"] = base_url
        fields["last_four"] = vault.last_four(secret)
        fields["label"] = fields["label"] or choice.label
    if not trusted:
        try:
            fields["base_url"] = addresses.base_url_check(fields["base_url"])
        except addresses.AddressRefused as error:
            raise CredentialError(str(error), "base_url") from None
    fields["secret"] = vault.seal(secret)
    return fields


@sensitive_variables()
def _service_account(secret: str):
    try:
        json.loads(secret)
    except ValueError:
        raise CredentialError("Paste the service account's whole JSON key file.", "secret") from None
    try:
        account = check_service_account(secret)
    except ValueError as error:
        raise CredentialError(str(error), "secret") from None
    # The key file decides where the server sends its signed assertions: Google's token
    # endpoint only, unless the deployment allows private addresses (the simulator's).
    host = urlsplit(account.token_uri).hostname
    local = settings.PROVIDER_LOOPBACK_URLS_ALLOWED and host in LOCAL_HOSTS
    if not (addresses.private_allowed() or local) and host != GOOGLE_TOKEN_HOST:
        raise CredentialError(f'The key file\'s "token_uri" must be https://{GOOGLE_TOKEN_HOST}/token.', "secret")
    return account


def _lock(team_id: int) -> None:
    """Changes to a team's keys one at a time (the default among them is one row's flag)."""
    list(Team.objects.select_for_update().filter(pk=team_id).values_list("pk"))


@sensitive_variables()
def credential_add(*, team: Team, actor, data: CredentialInput, user=None, check: bool = True) -> Credential:
    fields = _cleaned(data)
    with transaction.atomic():
        _lock(team.pk)  # one default per team, whoever saves at the same moment
        first = not Credential.objects.filter(team=team, user=None).exists()
        credential = Credential.objects.create(
            team=team, user=user, created_by=actor, is_default=first and user is None, **fields
        )
        audit_record(
            team=team,
            actor=actor,
            action="key.add" if user is None else "key.add_personal",
            subject=credential.label,
            details={
                "provider": credential.preset,
                "last_four": credential.last_four,
                "default": credential.is_default,
            },
        )
    if check:
        credential_check(credential)
    return credential


@sensitive_variables()
def credential_replace(credential: Credential, *, actor, secret: str) -> Credential:
    """A new secret for the same credential (same provider, address and models)."""
    data = CredentialInput(
        preset=credential.preset,
        label=credential.label,
        secret=secret,
        base_url=credential.base_url,
        vertex_project=credential.vertex_project,
        vertex_location=credential.vertex_location,
    )
    fields = _cleaned(data, trusted=True)  # the address was checked when it was set
    with transaction.atomic():
        Credential.objects.filter(pk=credential.pk).update(
            secret=fields["secret"],
            last_four=fields["last_four"],
            status=Credential.Status.UNCHECKED,
            status_text="",
            updated_at=timezone.now(),
        )
        audit_record(
            team=credential.team,
            actor=actor,
            action="key.replace",
            subject=credential.label,
            details={"old_last_four": credential.last_four, "last_four": fields["last_four"]},
        )
    credential.refresh_from_db()
    connection.forget(credential.pk)
    credential_check(credential)
    return credential


def credential_set_enabled(credential: Credential, *, actor, enabled: bool) -> None:
    with transaction.atomic():
        Credential.objects.filter(pk=credential.pk).update(enabled=enabled, updated_at=timezone.now())
        audit_record(
            team=credential.team,
            actor=actor,
            action="key.enable" if enabled else "key.disable",
            subject=credential.label,
        )
    connection.forget(credential.pk)


def credential_make_default(credential: Credential, *, actor) -> None:
    if credential.user_id is not None:
        raise CredentialError("A personal key cannot be the team's default.")
    with transaction.atomic():
        _lock(credential.team_id)
        if not Credential.objects.filter(pk=credential.pk).exists():
            raise CredentialError("That key was deleted meanwhile.")
        Credential.objects.filter(team=credential.team, user=None, is_default=True).update(is_default=False)
        Credential.objects.filter(pk=credential.pk).update(is_default=True)
        audit_record(team=credential.team, actor=actor, action="key.default", subject=credential.label)


def credential_delete(credential: Credential, *, actor) -> None:
    with transaction.atomic():
        _lock(credential.team_id)
        team = credential.team
        was_default = Credential.objects.filter(pk=credential.pk, is_default=True).exists()
        audit_record(
            team=team,
            actor=actor,
            action="key.delete",
            subject=credential.label,
            details={"provider": credential.preset, "last_four": credential.last_four},
        )
        credential.delete()
        if was_default:  # the oldest remaining enabled team credential takes over
            successor = Credential.objects.filter(team=team, user=None).order_by("-enabled", "id").first()
            if successor is not None:
                Credential.objects.filter(pk=successor.pk).update(is_default=True)
    connection.forget(credential.pk)


def credential_check(credential: Credential) -> Credential:
    """Ask the upstream about the credential, and sync its models: says in words what it found."""
    _record(credential, async_to_sync(_inspected)(credential))
    credential.refresh_from_db()
    return credential


def credentials_due() -> list[Credential]:
    """Enabled credentials whose last check is older than PROVIDER_CHECK_SECONDS (or never made)."""
    since = timezone.now() - timedelta(seconds=settings.PROVIDER_CHECK_SECONDS)
    rows = Credential.objects.filter(enabled=True).filter(Q(checked_at__isnull=True) | Q(checked_at__lt=since))
    return list(rows.order_by("checked_at")[:CHECKS_PER_PASS])


async def credentials_check_due() -> int:
    """Check (and sync the models of) the credentials that are due; run periodically, on beat
    in the production shape and in the web process otherwise. The upstream calls happen
    outside the database thread."""
    due = await sync_to_async(credentials_due)()
    for credential in due:
        await sync_to_async(_record)(credential, await _inspected(credential))
    return len(due)


async def credentials_check(ids) -> None:
    """Check these credentials now (one that was never checked, when a team first needs its models)."""
    for credential in await sync_to_async(list)(Credential.objects.filter(pk__in=list(ids))):
        await sync_to_async(_record)(credential, await _inspected(credential))


async def _inspected(credential: Credential) -> dict:
    try:
        status, words, catalogue = await connection.inspect(credential)
    except GrokError as error:
        status, words, catalogue = Credential.Status.FAILED, connection.error_words(error), None
    except vault.SecretUnreadable as error:
        status, words, catalogue = Credential.Status.FAILED, str(error), None
    except Exception:  # an answer of a shape nobody expected: a failed check, never a broken page
        log.warning("checking provider key %s failed", credential.pk, exc_info=True)
        status, words, catalogue = Credential.Status.FAILED, "The provider answered with something unreadable.", None
    changes = {"status": status, "status_text": words[:500], "checked_at": timezone.now()}
    if catalogue is not None:
        changes.update(catalogue=catalogue["language"], synced_at=changes["checked_at"])
        if catalogue["image"] is not None:
            changes["image_catalogue"] = catalogue["image"]
    return changes


def _record(credential: Credential, changes: dict) -> None:
    Credential.objects.filter(pk=credential.pk).update(**changes)
    catalogue_changed(credential.team_id)


@sensitive_variables()
def credential_import_environment() -> Credential | None:
    """XAI_API_KEY as the first team's default credential, once: when that team has none and
    never had it (the audit log's ``key.import`` says so). From then on the console owns it:
    a new XAI_API_KEY in the environment changes nothing; replace the key in the console."""
    key = settings.XAI_API_KEY
    if not key:
        return None
    team = Team.objects.order_by("id").first()
    if team is None or Credential.objects.filter(team=team, user=None).exists():
        return None
    if AuditEvent.objects.filter(team=team, action="key.import").exists():
        return None  # imported once already: an admin deleted it since, and that stands
    data = CredentialInput(
        preset=Preset.XAI.value, label="xAI (from XAI_API_KEY)", secret=key, base_url=settings.GROK_BASE_URL
    )
    fields = _cleaned(data, trusted=True)  # the deployment's own setting, not an admin's input
    with transaction.atomic():
        credential = Credential.objects.create(team=team, is_default=True, from_environment=True, **fields)
        audit_record(
            team=team,
            actor=None,
            action="key.import",
            subject=credential.label,
            details={"provider": credential.preset, "last_four": credential.last_four},
        )
    log.info("XAI_API_KEY stored as the default provider key of team %s", team.pk)
    return credential


def reseal_all() -> int:
    """Every stored secret sealed again with the first encryption key (each team's log says
    so); the number done."""
    done: dict[int, int] = {}
    for pk in Credential.objects.values_list("pk", flat=True):
        with transaction.atomic():
            row = Credential.objects.select_for_update().get(pk=pk)
            Credential.objects.filter(pk=pk).update(secret=vault.reseal(row.secret))
            done[row.team_id] = done.get(row.team_id, 0) + 1
    for team in Team.objects.filter(pk__in=done):
        audit_record(team=team, actor=None, action="key.reseal", details={"count": done[team.pk]})
    return sum(done.values())
