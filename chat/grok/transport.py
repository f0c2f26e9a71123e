"""httpx's transport on plain asyncio streams instead of anyio.

A streamed reply arrives one token per TCP segment, so the client reads its socket
about 50 times a second per reply. Through httpcore's anyio backend each read opens a
cancel scope, asks sniffio which event loop runs and yields to the loop once more
before reading: at 100 streams in one web process that was about a fifth of the
process's CPU (bench/results/bench.md). Here a read is a ``StreamReader.read``, and
its timeout one timer per connection that moves on with the reads (``asyncio.timeout``
around every read was another twentieth of the process). TLS is the standard
library's (``StreamWriter.start_tls``); the HTTP/1.1 protocol, pooling and proxies
stay httpcore's, reached through its public pools, which take a network backend.

``AsyncioTransport`` is the public seam httpx offers for this (an
``httpx.AsyncBaseTransport``); ``asyncio_client`` builds the ``httpx.AsyncClient``
httpx itself would build, proxies from the environment included, on that transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ipaddress
import select
import socket
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any

import httpcore
import httpx

from .proxies import environment_proxies


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._deadline: float | None = None  # when the read in progress times out
        self._watchdog: asyncio.TimerHandle | None = None

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        # One timer per connection, moved on lazily, instead of one per read: a reply
        # is read about 50 times a second and its timeout is seconds to minutes long.
        if timeout is not None:
            loop = asyncio.get_running_loop()
            self._deadline = loop.time() + timeout
            if self._watchdog is None or self._watchdog.when() > self._deadline:
                if self._watchdog is not None:
                    self._watchdog.cancel()
                self._watchdog = loop.call_at(self._deadline, self._expire)
        try:
            return await self._reader.read(max_bytes)
        except TimeoutError:
            raise httpcore.ReadTimeout("timed out reading from the server") from None
        except OSError as exc:
            raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc
        finally:
            self._deadline = None

    def _expire(self) -> None:
        self._watchdog = None
        if self._deadline is None:  # no read waiting; the next one sets its own deadline
            return
        loop = asyncio.get_running_loop()
        if loop.time() < self._deadline:  # a later read's deadline
            self._watchdog = loop.call_at(self._deadline, self._expire)
            return
        # The read in progress waited its whole timeout. The connection is done for:
        # httpcore closes it on the ReadTimeout this becomes.
        self._reader.set_exception(TimeoutError())

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            async with asyncio.timeout(timeout):
                self._writer.write(buffer)
                await self._writer.drain()
        except TimeoutError:
            raise httpcore.WriteTimeout("timed out writing to the server") from None
        except OSError as exc:
            raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass
        except TypeError:
            # CPython 3.11's asyncio, closing TLS inside TLS (a proxy's tunnel) while the
            # peer still sends after its close_notify, calls SSLProtocol._abort with an
            # argument it does not take. The stream is closed either way.
            pass

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError:
            await self.aclose()
            raise httpcore.ConnectTimeout("timed out in the TLS handshake") from None
        except (OSError, ssl.SSLError) as exc:
            await self.aclose()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        if info == "socket":
            return self._writer.get_extra_info("socket")
        if info == "is_readable":
            # An idle pooled connection that is readable was closed by the server (or
            # sent something unasked): httpcore then opens a new one.
            if self._reader.at_eof():
                return True
            sock = self._writer.get_extra_info("socket")
            if sock is None or sock.fileno() < 0:
                return True
            return _readable(sock.fileno())
        return None


def _readable(fd: int) -> bool:
    # poll, not select: select refuses descriptors above 1023, and a web process holding
    # a few hundred websockets and database connections soon has its upstream ones there.
    if not hasattr(select, "poll"):  # Windows, whose select limits how many, not which
        return bool(select.select([fd], [], [], 0)[0])
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


public_addresses_only: contextvars.ContextVar[str] = contextvars.ContextVar("public_addresses_only", default="")
"""Set while a request for an admin-given address is sent (see ``ProviderConfig.public_only``),
to "public" or "public_or_loopback": a new connection then goes only to such an address the
host resolves to, checked at the
moment of connecting, so a DNS answer that changes after the address was vetted cannot
send a request into this machine or its network. (Through a proxy, the proxy connects.)"""


class PrivateAddressRefused(OSError):
    pass


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def is_public_address(address: str) -> bool:
    """A global unicast address, judged by the IPv4 address an IPv6 one carries where it
    carries one (mapped, NAT64, 6to4, IPv4-compatible): those reach the same hosts."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        elif ip in _NAT64 or ip in _IPV4_COMPATIBLE:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif ip in _SIX_TO_FOUR and ip.sixtofour:
            ip = ip.sixtofour
    return ip.is_global and not ip.is_multicast


def is_loopback_address(address: str) -> bool:
    return ipaddress.ip_address(address).is_loopback


async def _allowed_address(host: str, port: int, rule: str) -> str:
    answers = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for *_, sockaddr in answers:
        address = sockaddr[0]
        if is_public_address(address) or (rule == "public_or_loopback" and is_loopback_address(address)):
            return address
    raise PrivateAddressRefused(f"{host} resolves only to private or local addresses, which are not allowed")


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, *, guarded: bool = True) -> None:
        self.guarded = guarded  # False for a proxy's connections: the proxy reaches the host

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                rule = public_addresses_only.get()
                if self.guarded and rule:
                    host = await _allowed_address(host, port, rule)  # TLS still names the host (SNI)
                reader, writer = await asyncio.open_connection(
                    host, port, local_addr=(local_address, 0) if local_address else None
                )
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"timed out connecting to {host}:{port}") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        sock = writer.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return AsyncioStream(reader, writer)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_unix_connection(path)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"timed out connecting to {path}") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        return AsyncioStream(reader, writer)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


# httpcore's exceptions as httpx's, most specific first: the client (chat/grok/errors.py)
# knows httpx's, as it would from httpx's own transport.
_HTTPX_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for httpcore_error, httpx_error in _HTTPX_ERRORS:
            if isinstance(exc, httpcore_error):
                raise httpx_error(str(exc)) from exc
        raise


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, chunks: AsyncIterable[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for chunk in self._chunks:
                yield chunk

    async def aclose(self) -> None:
        # Hands the connection back to the pool, or closes it if the reply was left unread.
        if hasattr(self._chunks, "aclose"):
            await self._chunks.aclose()


def _httpcore_url(url: httpx.URL) -> httpcore.URL:
    return httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path)


# httpx's defaults for a transport (``httpx.AsyncHTTPTransport``'s ``limits``).
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


class AsyncioTransport(httpx.AsyncBaseTransport):
    """An httpx transport whose connections run on ``AsyncioBackend``, directly or through ``proxy``.

    The arguments mean what they mean to ``httpx.AsyncHTTPTransport``: ``trust_env``
    lets SSL_CERT_FILE / SSL_CERT_DIR choose the trusted authorities when ``verify`` is
    True, and ``proxy`` is an http(s) or socks5 proxy URL or ``httpx.Proxy``. Choosing a
    proxy per URL from the environment is the client's job: see ``asyncio_client``.
    """

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | bool = True,
        trust_env: bool = True,
        limits: httpx.Limits = DEFAULT_LIMITS,
        proxy: httpx.Proxy | str | None = None,
    ) -> None:
        pool = {
            "ssl_context": httpx.create_ssl_context(verify=verify, trust_env=trust_env),
            "max_connections": limits.max_connections,
            "max_keepalive_connections": limits.max_keepalive_connections,
            "keepalive_expiry": limits.keepalive_expiry,
            "network_backend": AsyncioBackend(guarded=proxy is None),
        }
        proxy = httpx.Proxy(proxy) if isinstance(proxy, str) else proxy
        if proxy is None:
            self._connections = httpcore.AsyncConnectionPool(**pool)
        elif proxy.url.scheme in ("http", "https"):
            self._connections = httpcore.AsyncHTTPProxy(
                proxy_url=_httpcore_url(proxy.url),
                proxy_auth=proxy.raw_auth,
                proxy_headers=proxy.headers.raw,
                proxy_ssl_context=proxy.ssl_context,
                **pool,
            )
        else:  # socks5 or socks5h, the other schemes httpx.Proxy accepts
            try:
                import socksio  # noqa: F401  (what httpcore's SOCKS pool needs)
            except ImportError:
                # httpx's own words, so a SOCKS proxy fails here as it would without this transport.
                raise ImportError(
                    "Using SOCKS proxy, but the 'socksio' package is not installed. "
                    "Make sure to install httpx using `pip install httpx[socks]`."
                ) from None
            self._connections = httpcore.AsyncSOCKSProxy(
                proxy_url=_httpcore_url(proxy.url), proxy_auth=proxy.raw_auth, **pool
            )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        outgoing = httpcore.Request(
            method=request.method,
            url=_httpcore_url(request.url),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            response = await self._connections.handle_async_request(outgoing)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        with _as_httpx_errors():
            await self._connections.aclose()


def asyncio_client(
    *, verify: ssl.SSLContext | bool = True, trust_env: bool = True, limits: httpx.Limits = DEFAULT_LIMITS
) -> httpx.AsyncClient:
    """The ``httpx.AsyncClient(verify=, trust_env=, limits=)`` httpx would build, on ``AsyncioTransport``.

    httpx reads HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY only for transports it
    builds itself; a client given its own transport must be given the proxies too.
    """

    def transport(proxy: str | None = None) -> AsyncioTransport:
        return AsyncioTransport(verify=verify, trust_env=trust_env, limits=limits, proxy=proxy)

    # None sends a URL to the direct transport: the hosts NO_PROXY names.
    mounts = {
        pattern: None if url is None else transport(url)
        for pattern, url in (environment_proxies() if trust_env else {}).items()
    }
    return httpx.AsyncClient(trust_env=trust_env, transport=transport(), mounts=mounts)
