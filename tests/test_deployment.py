"""The production settings the README documents pass Django's deployment check; HTTPS is
enforced when configured, plain http://localhost keeps working when not, and signed-in
pages are never stored by a browser or proxy cache."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

BASE_DIR = Path(__file__).resolve().parent.parent
RIGHT = "correct horse battery"

# The README's "Production shape (docker compose)" .env, plus what docker-compose.yml sets.
PRODUCTION = {
    "DEBUG": "false",
    "ALLOWED_HOSTS": "chat.example.com,127.0.0.1",
    "CSRF_TRUSTED_ORIGINS": "https://chat.example.com",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    "DATABASE_URL": "postgres://grok:password@postgres:5432/grok",
    "REDIS_URL": "redis://redis:6379/0",
}
SETTINGS_VARIABLES = (
    "DEBUG",
    "SECRET_KEY",
    "SECURE_COOKIES",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
)


def manage(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    environment.update(DATA_DIR=str(tmp_path), SECRET_KEY=secrets.token_urlsafe(50), **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, capture_output=True, text=True, env=environment, timeout=120
    )


def test_the_documented_production_settings_pass_the_deployment_check(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", tmp_path=tmp_path, **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_without_https_settings_the_check_says_what_is_missing(tmp_path):
    plain = {k: v for k, v in PRODUCTION.items() if not k.startswith("SECURE_")}
    result = manage("check", "--deploy", "--fail-level", "WARNING", tmp_path=tmp_path, **plain)
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr


def test_a_proxy_header_that_is_not_a_header_name_fails_loudly(tmp_path):
    result = manage("check", tmp_path=tmp_path, SECURE_PROXY_SSL_HEADER="X Forwarded Proto")
    assert result.returncode != 0
    assert "SECURE_PROXY_SSL_HEADER" in result.stderr


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password=RIGHT)


@pytest.fixture
def https_settings(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    return settings


@pytest.mark.django_db
def test_on_the_single_machine_defaults_plain_http_signs_in_without_a_redirect(alice):
    client = Client()
    assert client.get("/accounts/login/").status_code == 200
    response = client.post("/accounts/login/", {"username": "alice", "password": RIGHT}, follow=True)
    assert response.redirect_chain == [("/", 302)]
    assert response.status_code == 200 and b'aria-label="Message"' in response.content
    assert not client.cookies["sessionid"]["secure"]  # a browser on http://localhost keeps it


@pytest.mark.django_db
def test_with_https_configured_plain_http_is_redirected_and_https_is_not(https_settings):
    client = Client()
    response = client.get("/accounts/login/")
    assert response.status_code == 301 and response["Location"] == "https://testserver/accounts/login/"
    secure = client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
    assert secure.status_code == 200  # no loop behind the TLS proxy
    assert secure["Strict-Transport-Security"] == "max-age=31536000"


@pytest.mark.django_db
def test_the_health_check_answers_over_plain_http_even_with_https_configured(https_settings):
    response = Client().get("/healthz", HTTP_HOST="127.0.0.1:8000")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_signed_in_pages_are_never_stored(alice):
    client = Client()
    client.force_login(alice)
    for url in ("/", "/accounts/login/"):
        response = client.get(url, follow=True)
        directives = {d.strip() for d in response["Cache-Control"].split(",")}
        assert {"private", "no-store"} <= directives, url


@pytest.mark.django_db
def test_static_files_keep_their_caching_for_a_signed_in_client(alice):
    client = Client()
    client.force_login(alice)
    name = next(p.name for p in (BASE_DIR / "static").rglob("*.js"))
    path = next(p for p in (BASE_DIR / "static").rglob(name)).relative_to(BASE_DIR / "static")
    response = client.get(f"/static/{path.as_posix()}")
    assert response.status_code == 200
    assert "no-store" not in response["Cache-Control"] and "max-age" in response["Cache-Control"]
