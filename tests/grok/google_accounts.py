"""Service accounts for the Vertex AI tests: a fresh RSA key per account, made at test
time (no key is ever committed), whose public half the simulator is told about."""

from __future__ import annotations

import uuid

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2 import service_account

from chat.grok.vertex import CLOUD_PLATFORM_SCOPE, HttpxRequest


def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_key_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def service_account_info(simulator, *, register: bool = True, private_key: str | None = None) -> dict:
    """A service account key file whose token_uri is the simulator's token endpoint.

    ``register`` tells the simulator the account's public key, so that it verifies
    the signature of every assertion; ``private_key`` signs with another key than
    the registered one."""
    pem = private_key_pem()
    key_id = uuid.uuid4().hex
    email = f"chat-{key_id[:8]}@project-1.iam.gserviceaccount.com"
    if register:
        body = {"client_email": email, "key_id": key_id, "public_key_pem": public_key_pem(pem)}
        httpx.post(simulator.url + "/sim/oauth2/keys", json=body).raise_for_status()
    return {
        "type": "service_account",
        "project_id": "project-1",
        "private_key_id": key_id,
        "private_key": private_key or pem,
        "client_email": email,
        "client_id": "1",
        "token_uri": simulator.url + "/sim/oauth2/token",
    }


def mint_token(simulator) -> str:
    """An access token for a new account, minted by google-auth (synchronously)."""
    credentials = service_account.Credentials.from_service_account_info(
        service_account_info(simulator), scopes=[CLOUD_PLATFORM_SCOPE]
    )
    credentials.refresh(HttpxRequest())
    return credentials.token


def token_requests(simulator, info: dict) -> list[dict]:
    """The simulator's log of token requests for this account."""
    return [e for e in simulator.requests_with(info["client_email"]) if e["path"] == "/sim/oauth2/token"]
