"""The async client for the xAI API (and Vertex AI / OpenAI-compatible gateways).

Everything goes through ``_request`` (whole answers) or ``_stream`` (SSE): they own the
headers, timeouts, error translation and the retry policy. Streams are never retried
once an event has been handed to the caller.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import EventSource

from .catalogue import catalogue_path, parse_catalogue
from .errors import GrokError, error_from_http, is_error_body, transport_error
from .events import Completed, Event, Failed
from .models import ImageModel, LanguageModel
from .parsing import ChatStreamParser, ResponsesStreamParser, completed_from_chat, completed_from_response
from .providers import ProviderConfig
from .requests import ChatRequest, ImageRequest, ResponsesRequest
from .retry import RetryPolicy
from .transport import asyncio_client, public_addresses_only
from .usage import Usage

OnRetry = Callable[[GrokError], None]  # told of an attempt the upstream refused before another


@dataclass(frozen=True)
class Timeouts:
    connect: float = 10.0
    # Reasoning models can think for minutes before the first token; xAI's own
    # examples use an hour, and a stall is caught by this read timeout.
    read: float = 3600.0
    write: float = 60.0
    pool: float = 60.0

    def httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.pool)


@dataclass(frozen=True)
class GeneratedImage:
    url: str | None
    b64_json: str | None
    mime_type: str
    revised_prompt: str | None


@dataclass(frozen=True)
class ImageResult:
    images: tuple[GeneratedImage, ...]
    usage: Usage


@dataclass(frozen=True)
class Token:
    token_id: int
    text: str


_shared: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()


def shared_http_client() -> httpx.AsyncClient:
    """One pooled ``AsyncClient`` per event loop (so per process in a web server).

    Keyed by loop because a pool's connections belong to the loop that opened them
    (a worker that calls ``asyncio.run`` per task gets a fresh one each time). It
    honours the environment as httpx does: proxies (HTTPS_PROXY, NO_PROXY, ...) and
    certificate authorities (SSL_CERT_FILE, SSL_CERT_DIR), read when it is built.
    """
    loop = asyncio.get_running_loop()
    client = _shared.get(loop)
    if client is None or client.is_closed:
        client = asyncio_client(limits=httpx.Limits(max_connections=2000, max_keepalive_connections=200))
        _shared[loop] = client
    return client


class GrokClient:
    def __init__(
        self,
        config: ProviderConfig,
        *,
        timeouts: Timeouts = Timeouts(),
        retry: RetryPolicy = RetryPolicy(),
        http: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.timeouts = timeouts
        self.retry = retry
        self._http = http
        self._sleep = sleep
        self._rng = rng or random.Random()

    @property
    def http(self) -> httpx.AsyncClient:
        return self._http or shared_http_client()

    # ----- Responses -------------------------------------------------------------------

    async def responses_create(self, request: ResponsesRequest) -> Completed:
        return completed_from_response(
            await self._request("POST", "/responses", "responses", json=request.body(stream=False))
        )

    def responses_stream(self, request: ResponsesRequest, *, on_retry: OnRetry | None = None) -> AsyncIterator[Event]:
        """``on_retry``: told of each attempt the upstream answered with an error before the
        stream is tried again (each was a request of its own, for the usage records)."""
        return self._stream(
            "/responses", "responses", request.body(stream=True), ResponsesStreamParser, on_retry=on_retry
        )

    async def response_retrieve(self, response_id: str) -> Completed:
        return completed_from_response(await self._request("GET", f"/responses/{response_id}", "responses"))

    async def response_delete(self, response_id: str) -> bool:
        body = await self._request("DELETE", f"/responses/{response_id}", "responses")
        return bool(body.get("deleted"))

    # ----- Chat completions and deferred completions -----------------------------------

    async def chat_create(self, request: ChatRequest) -> Completed:
        body = self.config.adapt_chat_body(request.body())
        return completed_from_chat(await self._request("POST", "/chat/completions", "chat", json=body))

    def chat_stream(self, request: ChatRequest, *, on_retry: OnRetry | None = None) -> AsyncIterator[Event]:
        body = self.config.adapt_chat_body(request.body(stream=True))
        return self._stream("/chat/completions", "chat", body, ChatStreamParser, on_retry=on_retry)

    async def chat_defer(self, request: ChatRequest) -> str:
        """Start a deferred completion; returns the request id to poll."""
        body = await self._request("POST", "/chat/completions", "deferred", json=request.body(deferred=True))
        return str(body["request_id"])

    async def deferred_poll(self, request_id: str) -> Completed | None:
        """None while pending (202); the completion once (200); GrokError 404 after that."""
        body = await self._request("GET", f"/chat/deferred-completion/{request_id}", "deferred", accept_202=True)
        return None if body is None else completed_from_chat(body)

    # ----- Images, models, tokenizer, key ------------------------------------------------

    async def images_generate(self, request: ImageRequest) -> ImageResult:
        body = await self._request("POST", "/images/generations", "images", json=request.body())
        images = tuple(
            GeneratedImage(
                item.get("url"), item.get("b64_json"), item.get("mime_type") or "image/jpeg", item.get("revised_prompt")
            )
            for item in body.get("data") or []
        )
        return ImageResult(images, Usage(cost_ticks=(body.get("usage") or {}).get("cost_in_usd_ticks")))

    async def models(self) -> list[str]:
        body = await self._request("GET", "/models", "models")
        return [str(m["id"]) for m in body.get("data") or []]

    async def language_models(self) -> list[LanguageModel]:
        body = await self._request("GET", "/language-models", "models")
        return [LanguageModel.from_api(m) for m in body.get("models") or []]

    async def catalogue(self) -> list[LanguageModel]:
        """The Grok language models this upstream offers, whatever form it lists them in
        (chat/grok/catalogue.py); each one's ``upstream_id`` is the id to send it."""
        info = self.config.info
        path = catalogue_path(info, self.config.base_url)
        raw = None if path is None else await self._request("GET", path, "models")
        return parse_catalogue(info, raw)

    async def image_generation_models(self) -> list[ImageModel]:
        body = await self._request("GET", "/image-generation-models", "models")
        return [ImageModel.from_api(m) for m in body.get("models") or []]

    async def tokenize(self, text: str, *, model: str) -> list[Token]:
        body = await self._request("POST", "/tokenize-text", "tokenize", json={"text": text, "model": model})
        return [Token(int(t["token_id"]), str(t["string_token"])) for t in body.get("token_ids") or []]

    async def api_key_info(self) -> dict[str, Any]:
        """The key's metadata (redacted key, team, ACLs, blocked flags): a cheap credential check."""
        return await self._request("GET", "/api-key", "api_key")

    # ----- The seam ----------------------------------------------------------------------

    def _check_supported(self, endpoint: str) -> None:
        if not self.config.supports(endpoint):
            raise GrokError(
                message=f"{self.config.provider.value} does not offer the {endpoint} endpoint.",
                code="unsupported",
            )

    async def _headers(self, *, force_refresh: bool = False) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {await self.config.bearer(force_refresh=force_refresh)}"}
        headers.update(self.config.extra_headers)
        return headers

    async def _backoff(self, error: GrokError, attempt: int, waited: float) -> float | None:
        """Wait before another attempt; returns the new total waited, or None to give up."""
        if not error.retryable:
            return None
        delay = self.retry.next_delay(attempt, waited, retry_after=error.retry_after, rng=self._rng)
        if delay is None:
            return None
        await self._sleep(delay)
        return waited + delay

    async def _request(
        self, method: str, path: str, endpoint: str, *, json: dict[str, Any] | None = None, accept_202: bool = False
    ) -> Any:
        self._check_supported(endpoint)
        waited = 0.0
        attempt = 0
        refreshed = force_refresh = False
        while True:
            attempt += 1
            try:
                headers = await self._headers(force_refresh=force_refresh)
                with self._addresses():
                    response = await self.http.request(
                        method,
                        self._url(path),
                        json=json,
                        headers=headers,
                        timeout=self.timeouts.httpx(),
                    )
                body = self._check(response, accept_202=accept_202)
                return body
            except httpx.TransportError as exc:
                error = transport_error(exc, read_timeout=self.timeouts.read)
            except GrokError as exc:
                error = exc
            force_refresh = self._should_refresh(error, refreshed)
            if force_refresh:
                refreshed = True
                continue
            new_waited = await self._backoff(error, attempt, waited)
            if new_waited is None:
                raise error
            waited = new_waited

    def _url(self, path: str) -> str:
        """``path`` under the base URL; an absolute URL (a catalogue outside /v1) only on its
        origin, so the key is never sent to another host."""
        if "://" not in path:
            return self.config.base_url + path
        if httpx.URL(path).join("/") != httpx.URL(self.config.base_url).join("/"):
            raise GrokError(message="A request left the provider's own address.", code="unsupported")
        return path

    @contextmanager
    def _addresses(self) -> Iterator[None]:
        """An admin-given base URL connects only to public addresses (chat.grok.transport)."""
        if not self.config.public_only:
            yield
            return
        token = public_addresses_only.set("public_or_loopback" if self.config.loopback_allowed else "public")
        try:
            yield
        finally:
            public_addresses_only.reset(token)

    def _should_refresh(self, error: GrokError, refreshed: bool) -> bool:
        """Vertex tokens expire: on a 401 ask the provider for a fresh one, once."""
        return error.status == 401 and self.config.token_provider is not None and not refreshed

    def _check(self, response: httpx.Response, *, accept_202: bool = False) -> Any:
        if accept_202 and response.status_code == 202:
            return None
        content_type = response.headers.get("content-type", "")
        if response.status_code >= 300:
            raise self._http_error(response, content_type)
        try:
            body = response.json()
        except ValueError:
            raise GrokError(
                message="Grok sent an answer the app could not read.",
                code="malformed_body",
                status=response.status_code,
                retryable=True,
                upstream_message=response.text[:200],
            ) from None
        if is_error_body(body):
            raise self._http_error(response, content_type)
        return body

    @staticmethod
    def _http_error(response: httpx.Response, content_type: str) -> GrokError:
        return error_from_http(
            response.status_code,
            response.content,
            content_type=content_type,
            retry_after=response.headers.get("retry-after"),
            request_id=response.headers.get("x-request-id"),
        )

    @asynccontextmanager
    async def _open(self, path: str, body: dict[str, Any], force_refresh: bool) -> AsyncIterator[httpx.Response]:
        request = self.http.build_request(
            "POST",
            self.config.base_url + path,
            json=body,
            headers=await self._headers(force_refresh=force_refresh),
            timeout=self.timeouts.httpx(),
        )
        with self._addresses():
            response = await self.http.send(request, stream=True)
        try:
            content_type = response.headers.get("content-type", "")
            if response.status_code >= 300 or "text/event-stream" not in content_type:
                await response.aread()
                if response.status_code < 300:
                    # A 200 that is JSON, not SSE: xAI's "200 with an error body".
                    self._check(response)
                    raise GrokError(
                        message="Grok answered a streamed request without a stream.",
                        code="not_a_stream",
                        status=response.status_code,
                        retryable=True,
                    )
                raise self._http_error(response, content_type)
            yield response
        finally:
            await response.aclose()

    async def _stream(
        self,
        path: str,
        endpoint: str,
        body: dict[str, Any],
        parser_factory: Callable[[], ResponsesStreamParser | ChatStreamParser],
        *,
        on_retry: OnRetry | None = None,
    ) -> AsyncIterator[Event]:
        """Yield typed events; every failure ends the stream with one ``Failed`` event."""
        try:
            self._check_supported(endpoint)
        except GrokError as error:
            yield Failed(error)
            return
        waited = 0.0
        attempt = 0
        refreshed = force_refresh = False
        delivered = False
        while True:
            attempt += 1
            parser = parser_factory()
            try:
                async with self._open(path, body, force_refresh=force_refresh) as response:
                    async for sse in EventSource(response).aiter_sse():
                        for event in parser.feed(sse.data):
                            delivered = True
                            yield event
                            if isinstance(event, (Completed, Failed)):
                                return
                    for event in parser.finish():
                        yield event
                    return
            except httpx.TransportError as exc:
                error = transport_error(exc, read_timeout=self.timeouts.read)
            except GrokError as exc:
                error = exc
            if delivered:
                yield Failed(error)
                return
            force_refresh = self._should_refresh(error, refreshed)
            if force_refresh:
                refreshed = True
                continue
            new_waited = await self._backoff(error, attempt, waited)
            if new_waited is None:
                yield Failed(error)
                return
            if on_retry is not None and error.status is not None:  # it reached the upstream
                on_retry(error)
            waited = new_waited
