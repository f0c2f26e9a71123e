"""One error type for everything the upstream can do wrong, and the parsing of its bodies.

xAI answers errors with a flat ``{"code": "<gRPC status text>", "error": "<message>"}``;
gateways use OpenAI's ``{"error": {...}}``; Google wraps the same in a list; a 422 is
plain text; and a 200 may carry the flat error body instead of a reply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

# What a person can do about each kind of failure, ahead of the upstream's own words.
_PREFIXES = {
    400: "Grok rejected the request",
    401: "Grok needs a valid API key (the key is missing or malformed)",
    403: "The provider key is not allowed to do this (no credits, a spending limit or a region restriction)",
    404: "Grok could not find what was asked for",
    405: "Grok does not accept this method here",
    413: "The request is too large for Grok",
    415: "Grok could not read the request body",
    422: "Grok could not read the request",
    429: "Grok is rate-limiting this key; try again in a moment",
}


@dataclass
class GrokError(Exception):
    """A failed upstream call.

    ``status`` is the HTTP status (None for transport faults), ``code`` a short
    machine-readable reason, ``message`` a sentence a person can act on, and
    ``retryable`` whether the same request may succeed later.
    """

    message: str
    status: int | None = None
    code: str = "upstream_error"
    retryable: bool = False
    upstream_message: str = ""
    retry_after: float | None = None
    request_id: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def _extract(body: object) -> tuple[str | None, str]:
    """Return (code, message) from any of the error shapes the upstreams use."""
    if isinstance(body, list) and body:
        body = body[0]
    if not isinstance(body, dict):
        return None, ""
    error = body.get("error")
    if isinstance(error, dict):
        code = error.get("status") or error.get("code") or error.get("type")
        return (str(code) if code is not None else None), str(error.get("message") or "")
    if isinstance(error, str):
        code = body.get("code")
        return (str(code) if code is not None else None), error
    if "message" in body:
        return (str(body["code"]) if "code" in body else None), str(body["message"])
    return None, ""


def is_error_body(body: object) -> bool:
    """A JSON body that carries an error instead of a result (xAI's 200-with-error)."""
    if not isinstance(body, dict):
        return False
    if any(key in body for key in ("choices", "output", "data", "models", "request_id")):
        return False
    return "error" in body and ("code" in body or isinstance(body["error"], (dict, str)))


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def error_from_http(
    status: int,
    body: bytes,
    *,
    content_type: str = "",
    retry_after: str | None = None,
    request_id: str | None = None,
) -> GrokError:
    """Build the error for an HTTP answer that is not a success (or is a 200 with an error body)."""
    text = body.decode("utf-8", "replace").strip()
    code: str | None = None
    upstream = text
    if text and ("json" in content_type or text[:1] in "[{"):
        try:
            code, upstream = _extract(json.loads(text))
        except ValueError:
            pass
    upstream = upstream[:500]
    if status == 200:
        prefix = "Grok answered with an error instead of a reply"
        retryable = True
    elif status >= 500:
        prefix = "Grok is temporarily unavailable"
        retryable = True
    else:
        prefix = _PREFIXES.get(status, f"Grok answered HTTP {status}")
        retryable = status in RETRYABLE_STATUSES
    message = f"{prefix}: {upstream}" if upstream else f"{prefix}."
    return GrokError(
        message=message,
        status=status,
        code=code or _code_for_status(status),
        retryable=retryable,
        upstream_message=upstream,
        retry_after=parse_retry_after(retry_after),
        request_id=request_id,
    )


def _code_for_status(status: int) -> str:
    return {
        200: "error_in_body",
        400: "invalid_request",
        401: "unauthenticated",
        403: "permission_denied",
        404: "not_found",
        415: "unsupported_media_type",
        422: "unprocessable",
        429: "rate_limited",
    }.get(status, "unavailable" if status >= 500 else f"http_{status}")


def transport_error(exc: Exception, *, read_timeout: float | None = None) -> GrokError:
    """A connection-level fault: always worth another try before any byte was delivered."""
    import httpx  # local: keeps this module importable for parsing alone

    if isinstance(exc, httpx.TimeoutException):
        seconds = f" within {read_timeout:g} seconds" if read_timeout else ""
        return GrokError(
            message=f"Grok did not answer{seconds}; the request timed out.",
            code="timeout",
            retryable=True,
            upstream_message=str(exc),
        )
    if isinstance(exc, httpx.RemoteProtocolError):
        return GrokError(
            message="The connection to Grok was cut before the reply was complete.",
            code="connection_cut",
            retryable=True,
            upstream_message=str(exc),
        )
    return GrokError(
        message="Could not reach Grok (network error); try again in a moment.",
        code="connection_error",
        retryable=True,
        upstream_message=str(exc) or type(exc).__name__,
    )
