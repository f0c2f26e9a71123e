"""The simulator's Google token endpoint over raw HTTP: what it checks of a service
account's JWT assertion, and Google's OAuth error shape when a check fails."""

from __future__ import annotations

import time

import httpx
import pytest
from google.auth import crypt, jwt

from chat.grok.vertex import CLOUD_PLATFORM_SCOPE

from .google_accounts import private_key_pem, service_account_info

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_ENDPOINT = "https://oauth2.googleapis.com/token"


def assertion(info: dict, *, key: str | None = None, **claims) -> str:
    now = int(time.time())
    payload = {
        "iss": info["client_email"],
        "aud": GOOGLE_TOKEN_ENDPOINT,
        "scope": CLOUD_PLATFORM_SCOPE,
        "iat": now,
        "exp": now + 3600,
        **claims,
    }
    signer = crypt.RSASigner.from_string(key or info["private_key"], info["private_key_id"])
    return jwt.encode(signer, payload).decode()


def ask(simulator, value: str, grant_type: str = JWT_BEARER) -> httpx.Response:
    return httpx.post(simulator.url + "/sim/oauth2/token", data={"grant_type": grant_type, "assertion": value})


@pytest.fixture
def account(simulator) -> dict:
    return service_account_info(simulator)


def test_a_well_formed_signed_assertion_gets_a_bearer_token(simulator, account):
    response = ask(simulator, assertion(account))

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["access_token"].startswith("ya29.")


def test_an_assertion_signed_with_another_key_is_an_invalid_grant(simulator, account):
    response = ask(simulator, assertion(account, key=private_key_pem()))

    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}


@pytest.mark.parametrize(
    ("claims", "error"),
    [
        ({"aud": "https://example.com/token"}, "invalid_grant"),
        ({"scope": "https://www.googleapis.com/auth/userinfo.email"}, "invalid_scope"),
        ({"exp": int(time.time()) - 10, "iat": int(time.time()) - 3000}, "invalid_grant"),
        ({"exp": int(time.time()) + 7200}, "invalid_grant"),
    ],
    ids=["audience", "scope", "expired", "too-long"],
)
def test_claims_google_would_refuse_are_refused(simulator, account, claims, error):
    response = ask(simulator, assertion(account, **claims))

    assert response.status_code == 400
    assert response.json()["error"] == error


def test_only_the_jwt_bearer_grant_and_a_real_jwt_are_accepted(simulator, account):
    assert ask(simulator, assertion(account), grant_type="client_credentials").json()["error"] == (
        "unsupported_grant_type"
    )
    assert ask(simulator, "not-a-jwt").json()["error"] == "invalid_grant"


def test_an_account_without_a_registered_key_is_checked_for_shape_only(simulator):
    unregistered = service_account_info(simulator, register=False)

    assert ask(simulator, assertion(unregistered)).status_code == 200


def test_the_request_log_keeps_the_account_but_not_the_assertion(simulator, account):
    signed = assertion(account)
    ask(simulator, signed)

    entries = simulator.requests_with(account["client_email"])
    assert entries and all(signed[:40] not in entry["prompt"] for entry in entries)
