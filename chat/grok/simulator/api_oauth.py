"""Google's OAuth 2.0 token endpoint, as far as a service account uses it (RFC 7523).

``POST /sim/oauth2/token`` takes ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``
and ``assertion=<JWT>``, the JWT google-auth signs with the service account's key. It
checks what Google checks of its shape: RS256, ``iss``, ``aud`` equal to Google's token
endpoint (google-auth always puts ``https://oauth2.googleapis.com/token`` there, whatever
the account's ``token_uri``; this endpoint's own URL is accepted too), a ``scope`` with
cloud-platform, ``iat``/``exp`` at most an hour apart and current. When a test has registered the account's public key
(``POST /sim/oauth2/keys``, served only with ``--inspect``), the signature is verified
too. The answer is an access token that the Vertex AI form accepts until it expires
(``--oauth-token-lifetime``) or is revoked (``POST /sim/oauth2/revoke``). Errors take
Google's OAuth shape: ``{"error": "invalid_grant", "error_description": "..."}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .common import SimError, read_json, require, sim_of
from .state import AccessToken

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_ENDPOINT = "https://oauth2.googleapis.com/token"
MAX_ASSERTION_LIFETIME = 3600
CLOCK_SKEW = 300
_SHORT_LIVED = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)


def _grant_error(description: str) -> SimError:
    return SimError(400, "invalid_grant", description)


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _decode(assertion: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """(header, claims, signed bytes, signature) of a compact JWS, or invalid_grant."""
    parts = assertion.split(".")
    if len(parts) != 3:
        raise _grant_error("Invalid JWT: the assertion is not a signed JWT (header.claims.signature).")
    try:
        header, claims = (json.loads(_b64decode(part)) for part in parts[:2])
        signature = _b64decode(parts[2])
    except (ValueError, binascii.Error):
        raise _grant_error("Invalid JWT: the header or claims are not base64url-encoded JSON.") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise _grant_error("Invalid JWT: the header and claims must be JSON objects.")
    return header, claims, f"{parts[0]}.{parts[1]}".encode(), signature


def _check_claims(claims: dict[str, Any], own_url: str) -> None:
    if claims.get("aud") not in (GOOGLE_TOKEN_ENDPOINT, own_url):
        raise _grant_error(f"Invalid JWT: Failed audience check. The right audience is {GOOGLE_TOKEN_ENDPOINT}")
    if CLOUD_PLATFORM not in str(claims.get("scope") or "").split():
        raise SimError(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
    iat, exp, now = claims.get("iat"), claims.get("exp"), time.time()
    if not isinstance(iat, int) or not isinstance(exp, int):
        raise _grant_error(_SHORT_LIVED)
    if exp <= now or iat > now + CLOCK_SKEW or exp - iat > MAX_ASSERTION_LIFETIME or exp < iat:
        raise _grant_error(_SHORT_LIVED)


def _check_signature(keys: dict[str, str], key_id: object, signed: bytes, signature: bytes) -> None:
    pem = keys.get(str(key_id)) if key_id is not None else None
    if pem is None:
        raise _grant_error("Invalid JWT Signature.")
    public_key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(public_key, rsa.RSAPublicKey)
    try:
        public_key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise _grant_error("Invalid JWT Signature.") from None


async def _form(request: Request) -> dict[str, str]:
    raw = (await request.body()).decode("utf-8", "replace")
    return {key: values[0] for key, values in parse_qs(raw).items()}


async def token(request: Request, dialect: str) -> Response:
    # The request log must not keep the assertion: it mints tokens for an hour.
    request.state.prompt = "oauth2 token"
    sim = sim_of(request)
    form = await _form(request)
    if form.get("grant_type") != JWT_BEARER:
        raise SimError(400, "unsupported_grant_type", f"Invalid grant_type: {form.get('grant_type', '')}")
    if not form.get("assertion"):
        raise SimError(400, "invalid_request", "Missing required parameter: assertion")
    header, claims, signed, signature = _decode(form["assertion"])
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise _grant_error("Invalid JWT: no issuer (iss).")
    request.state.prompt = f"oauth2 token for {issuer}"
    if header.get("alg") != "RS256":
        raise _grant_error("Invalid JWT: the signing algorithm must be RS256.")
    _check_claims(claims, str(request.url.replace(query="")))
    keys = sim.state.google_keys.get(issuer)
    if keys is not None:
        _check_signature(keys, header.get("kid"), signed, signature)
    access_token = "ya29.sim-" + secrets.token_urlsafe(32)
    lifetime = sim.config.oauth_token_lifetime_s
    sim.state.access_tokens[access_token] = AccessToken(issuer, time.time() + lifetime)
    return JSONResponse({"access_token": access_token, "expires_in": lifetime, "token_type": "Bearer"})


async def revoke(request: Request, dialect: str) -> Response:
    request.state.prompt = "oauth2 revoke"
    value = (await _form(request)).get("token") or request.query_params.get("token", "")
    if sim_of(request).state.access_tokens.pop(value, None) is None:
        raise SimError(400, "invalid_token", "Token expired or revoked")
    return JSONResponse({})


async def register_key(request: Request, dialect: str) -> Response:
    """A test says which public key signs for a service account; from then on its
    assertions must carry that key's id (``kid``) and a valid signature."""
    body = await read_json(request)
    email, key_id, pem = (require(body, name, str) for name in ("client_email", "key_id", "public_key_pem"))
    try:
        if not isinstance(serialization.load_pem_public_key(pem.encode()), rsa.RSAPublicKey):
            raise ValueError
    except ValueError:
        raise SimError(400, "invalid_request", "public_key_pem is not an RSA public key in PEM form.") from None
    sim_of(request).state.google_keys.setdefault(email, {})[key_id] = pem
    return JSONResponse({"client_email": email, "key_id": key_id})
