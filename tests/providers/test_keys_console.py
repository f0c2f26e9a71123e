"""The provider keys and models pages: admins of the team only; a secret written through them is found nowhere."""

from __future__ import annotations

import logging
import subprocess

import pytest
from django.db import connection
from django.urls import reverse

from tests.accounts.conftest import as_
from webapp.accounts.models import AuditEvent
from webapp.providers.credentials import CredentialInput, credential_add, credential_import_environment
from webapp.providers.models import Credential, TeamModel

pytestmark = pytest.mark.django_db

SECRET = "xai-KnownSecretValue-0123456789-wxyz"


def add_key(team, simulator, secret=SECRET, label="Main", **extra):
    owner = team["alice"]
    return credential_add(
        team=owner.team,
        actor=owner.user,
        data=CredentialInput("xai", label=label, secret=secret, base_url=simulator.v1, **extra),
    )


def console_urls(credential_id: int) -> list[tuple[str, str, dict]]:
    return [
        ("get", reverse("manage:keys"), {}),
        ("post", reverse("manage:keys"), {"preset": "xai", "secret": "xai-" + "n" * 40}),
        ("post", reverse("manage:key_replace", args=[credential_id]), {"secret": "xai-" + "m" * 40}),
        ("post", reverse("manage:key_enabled", args=[credential_id]), {"enabled": "0"}),
        ("post", reverse("manage:key_default", args=[credential_id]), {}),
        ("post", reverse("manage:key_check", args=[credential_id]), {}),
        ("post", reverse("manage:key_delete", args=[credential_id]), {}),
        ("get", reverse("manage:models"), {}),
        ("post", reverse("manage:model_update"), {"model": "grok-4.3", "enabled": "0"}),
    ]


@pytest.mark.parametrize("who", [None, "bob", "carol"])
def test_nobody_but_the_teams_admins_reaches_a_key_page_or_action(team, simulator, who):
    """Anonymous: the sign-in page. A member: 404. Another team's owner: 404 for our keys,
    and the pages are those of her own team, without ours."""
    credential = add_key(team, simulator)
    before = list(Credential.objects.values_list("id", "secret", "enabled", "updated_at"))
    for method, url, data in console_urls(credential.pk):
        ours = str(credential.pk) in url
        if who == "carol" and not ours:
            if method == "get":
                page = as_(team[who]).get(url)
                assert (
                    page.status_code == 200
                    and "…wxyz" not in page.content.decode()
                    and "Main" not in page.content.decode()
                )
            continue
        response = getattr(as_(team[who] if who else None), method)(url, data)
        if who is None:
            assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url
        else:
            assert response.status_code == 404, url
        assert SECRET[-4:] not in response.content.decode()
    assert list(Credential.objects.values_list("id", "secret", "enabled", "updated_at")) == before
    assert not TeamModel.objects.exists()


def test_an_admin_adds_a_key_and_sees_only_its_last_four_with_what_the_check_found(team, simulator):
    response = as_(team["dave"]).post(
        reverse("manage:keys"),
        {"preset": "xai", "label": "Main", "secret": SECRET, "base_url": simulator.v1},
        follow=True,
    )
    page = response.content.decode()
    assert response.status_code == 200 and "…wxyz" in page and SECRET not in page and SECRET[:-4] not in page
    credential = Credential.objects.get()
    assert credential.is_default and credential.status == "ok", credential.status_text
    assert "active" in credential.status_text and "Grok model" in credential.status_text
    assert [e.action for e in AuditEvent.objects.filter(team=credential.team)] == ["key.add"]
    # Replies now come through the team's key: the simulator notice is gone for the team, not for others.
    assert 'id="simulator-banner"' not in as_(team["bob"]).get("/").content.decode()
    assert 'id="simulator-banner"' in as_(team["carol"]).get("/").content.decode()


def test_bad_input_gets_a_clear_error_and_changes_nothing(team, simulator):
    admin = as_(team["alice"])
    for data, words in (
        ({"preset": "xai", "secret": ""}, "Paste the API key"),
        ({"preset": "nonsense", "secret": SECRET}, "Choose a provider"),
        ({"preset": "custom", "secret": SECRET}, "base URL"),
        ({"preset": "vertex", "secret": "{not json"}, "whole JSON key file"),
    ):
        response = admin.post(reverse("manage:keys"), data)
        assert response.status_code == 400 and words in response.content.decode(), data
        assert SECRET not in response.content.decode()
    assert not Credential.objects.exists() and not AuditEvent.objects.filter(action__startswith="key.").exists()


def test_a_private_base_url_is_refused_where_the_deployment_does_not_allow_it(team, settings):
    settings.PROVIDER_PRIVATE_URLS_ALLOWED = settings.PROVIDER_LOOPBACK_URLS_ALLOWED = False
    response = as_(team["alice"]).post(
        reverse("manage:keys"), {"preset": "custom", "secret": SECRET, "base_url": "https://127.0.0.1/v1"}
    )
    assert response.status_code == 400 and "private or local address" in response.content.decode()
    assert not Credential.objects.exists()


def test_replace_disable_default_and_delete(team, simulator):
    first = add_key(team, simulator)
    second = add_key(team, simulator, secret="xai-second-key-000000000000-abcd", label="Second")
    admin = as_(team["alice"])
    assert not second.is_default
    admin.post(reverse("manage:key_default", args=[second.pk]))
    first.refresh_from_db(), second.refresh_from_db()
    assert second.is_default and not first.is_default
    admin.post(reverse("manage:key_replace", args=[first.pk]), {"secret": "xai-replaced-000000000000000-9876"})
    first.refresh_from_db()
    assert first.last_four == "9876" and first.status == "ok"
    admin.post(reverse("manage:key_enabled", args=[first.pk]), {"enabled": "0"})
    first.refresh_from_db()
    assert not first.enabled
    admin.post(reverse("manage:key_delete", args=[second.pk]))
    first.refresh_from_db()
    assert first.is_default and not Credential.objects.filter(pk=second.pk).exists()
    actions = list(AuditEvent.objects.filter(action__startswith="key.").order_by("id").values_list("action", flat=True))
    assert actions == ["key.add", "key.add", "key.default", "key.replace", "key.disable", "key.delete"]


def test_another_teams_key_does_not_exist_for_an_admin(team, simulator):
    theirs = credential_add(
        team=team["carol"].team,
        actor=team["carol"].user,
        data=CredentialInput("xai", secret=SECRET, base_url=simulator.v1),
    )
    admin = as_(team["alice"])
    for name in ("key_replace", "key_enabled", "key_default", "key_check", "key_delete"):
        assert admin.post(reverse(f"manage:{name}", args=[theirs.pk]), {"secret": "x" * 40}).status_code == 404
    assert "…wxyz" not in admin.get(reverse("manage:keys")).content.decode()
    theirs.refresh_from_db()
    assert theirs.enabled and theirs.last_four == "wxyz"


def test_xai_api_key_becomes_the_first_teams_default_credential_once(team, settings, simulator):
    settings.XAI_API_KEY = "xai-from-the-environment-00000-env1"
    Credential.objects.all().delete()
    credential = credential_import_environment()
    assert credential.is_default and credential.from_environment and credential.last_four == "env1"
    assert credential.team == team["alice"].team  # the first team
    assert credential_import_environment() is None  # it has one now
    credential.delete()
    assert credential_import_environment() is None  # deleted by an admin: it does not come back
    assert "env1" not in credential.secret


def test_a_known_secret_is_in_no_row_no_dump_no_log_no_page_and_no_frame(team, simulator, caplog, settings):
    caplog.set_level(logging.DEBUG)
    admin = as_(team["alice"])
    admin.post(reverse("manage:keys"), {"preset": "xai", "secret": SECRET, "base_url": simulator.v1})
    credential = Credential.objects.get()
    admin.post(reverse("manage:key_check", args=[credential.pk]))
    pages = [admin.get(reverse(name)).content.decode() for name in ("manage:keys", "manage:models", "manage:audit")]
    pages.append(admin.get("/").content.decode())
    needle = SECRET[4:-4]  # any longer piece of it
    for page in pages:
        assert needle not in page
    assert needle not in caplog.text
    for table in connection.introspection.table_names():
        with connection.cursor() as cursor:
            cursor.execute(f'SELECT * FROM "{table}"')
            assert needle not in repr(cursor.fetchall()), table
    assert needle not in repr(credential) and needle not in repr(
        __import__("webapp.providers.connection", fromlist=["x"]).provider_config(credential)
    )
    if connection.vendor == "postgresql":
        dump = subprocess.run(
            ["pg_dump", "--data-only", "-h", "127.0.0.1", "-U", "postgres", connection.settings_dict["NAME"]],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "ok" in dump and needle not in dump


@pytest.mark.django_db(transaction=True)
async def test_turns_go_through_the_teams_key_and_no_frame_carries_it(team, simulator, settings):
    from channels.db import database_sync_to_async

    settings.GROK_BASE_URL = "http://127.0.0.1:9/v1"  # the deployment's upstream is gone: only the key works

    from tests.chat.conftest import Socket, is_end, start

    await database_sync_to_async(add_key)(team, simulator)
    socket = Socket(team["alice"].user)
    assert await socket.connect()
    await socket.send(start("Through the team key"))
    end = await socket.until(is_end)
    await socket.close()
    assert end["type"] == "turn.done", end
    assert SECRET[4:-4] not in repr(socket.frames)
    [asked] = simulator.requests_with("Through the team key")
    assert asked["status"] == 200


def test_a_service_account_whose_token_uri_is_not_googles_is_refused_in_production(team, settings, simulator):
    from tests.grok.google_accounts import service_account_info

    settings.PROVIDER_PRIVATE_URLS_ALLOWED = settings.PROVIDER_LOOPBACK_URLS_ALLOWED = False
    info = service_account_info(simulator, register=False)  # its token_uri is the simulator's
    response = as_(team["alice"]).post(
        reverse("manage:keys"), {"preset": "vertex", "secret": __import__("json").dumps(info), "vertex_project": "p"}
    )
    page = response.content.decode()
    assert response.status_code == 400 and "must be https://oauth2.googleapis.com/token" in page
    assert info["private_key"][40:80] not in page and not Credential.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_keys_are_checked_again_when_due_and_a_revoked_one_says_so(team, simulator, settings):
    from asgiref.sync import async_to_sync
    from django.utils import timezone

    from webapp.providers.credentials import credentials_check_due

    working = add_key(team, simulator)
    revoked = add_key(team, simulator, secret="xai-bad-revoked-000000000000-0000", label="Old")
    assert revoked.status == "failed" and "refused the key" in revoked.status_text
    assert async_to_sync(credentials_check_due)() == 0  # both were just checked
    Credential.objects.update(
        checked_at=timezone.now() - timezone.timedelta(seconds=settings.PROVIDER_CHECK_SECONDS + 1)
    )
    assert async_to_sync(credentials_check_due)() == 2
    working.refresh_from_db()
    assert working.status == "ok" and working.checked_at > timezone.now() - timezone.timedelta(seconds=60)


def test_a_model_list_nobody_expected_is_a_failed_check_not_a_broken_page(team, simulator, monkeypatch):
    import chat.grok.client

    def unreadable(info, raw):
        raise AttributeError("'str' object has no attribute 'get'")

    monkeypatch.setattr(chat.grok.client, "parse_catalogue", unreadable)
    response = as_(team["alice"]).post(
        reverse("manage:keys"), {"preset": "custom", "secret": SECRET, "base_url": simulator.v1}, follow=True
    )
    assert response.status_code == 200 and "answered with something unreadable" in response.content.decode()
    credential = Credential.objects.get()
    assert credential.status == "failed" and credential.checked_at is not None
    assert as_(team["bob"]).get("/").status_code == 200  # the team's chat still opens


def test_an_error_report_while_saving_a_key_never_shows_it(team, simulator, monkeypatch):
    """The report Django mails to ADMINS (or hands to an error tracker) when a save fails
    hides the pasted key, in the POST data and in every frame's variables. (With DEBUG on,
    Django shows everything by design: never in production.)"""
    import sys

    from django.core.signals import got_request_exception
    from django.test import Client
    from django.views.debug import ExceptionReporter

    import webapp.providers.credentials

    def broken(**kwargs):
        raise RuntimeError("the audit table went away")

    reports = []

    def report(sender, request, **kwargs):
        reports.append(ExceptionReporter(request, *sys.exc_info()).get_traceback_text())

    monkeypatch.setattr(webapp.providers.credentials, "audit_record", broken)
    got_request_exception.connect(report)
    try:
        client = Client(raise_request_exception=False)
        client.force_login(team["alice"].user)
        response = client.post(reverse("manage:keys"), {"preset": "xai", "secret": SECRET, "base_url": simulator.v1})
    finally:
        got_request_exception.disconnect(report)
    assert response.status_code == 500 and len(reports) == 1
    assert "RuntimeError" in reports[0] and "the audit table went away" in reports[0]
    assert SECRET[4:-4] not in reports[0]
