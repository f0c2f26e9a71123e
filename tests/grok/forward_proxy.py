"""A small forward HTTP proxy on 127.0.0.1 that remembers what it relayed.

It speaks the two forms a client uses with a proxy: ``CONNECT host:port`` opens a
tunnel (for HTTPS), and an absolute-form request line (``POST http://host/path``) is
forwarded for plain HTTP, one request per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .tls import Certificates, pipe


@dataclass
class ForwardProxy:
    url: str  # http://127.0.0.1:PORT
    relayed: list[str] = field(default_factory=list)  # "CONNECT localhost:443", "POST http://127.0.0.1:80/v1/x"


@contextlib.asynccontextmanager
async def forward_proxy(tls: Certificates | None = None) -> AsyncIterator[ForwardProxy]:
    """A proxy on plain HTTP, or on HTTPS with ``tls``'s certificate (an ``https://`` proxy)."""
    writers: set[asyncio.StreamWriter] = set()
    handlers: set[asyncio.Task] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.add(asyncio.current_task())
        writers.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        request_line, *header_lines = head.decode("latin-1").split("\r\n")[:-2]
        method, target, version = request_line.split(" ")
        proxy.relayed.append(f"{method} {target}")
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            url = urlsplit(target)
            up_reader, up_writer = await asyncio.open_connection(url.hostname, url.port or 80)
            path = url.path + (f"?{url.query}" if url.query else "")
            # Closing after one response keeps the relay a pair of pipes.
            headers = [h for h in header_lines if not h.lower().startswith(("connection:", "proxy-connection:"))]
            lines = [f"{method} {path} {version}", *headers, "Connection: close", "", ""]
            up_writer.write("\r\n".join(lines).encode("latin-1"))
        writers.add(up_writer)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    context = None
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls.cert, tls.key)
    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    proxy = ForwardProxy(url=f"https://localhost:{port}" if tls else f"http://127.0.0.1:{port}")
    try:
        yield proxy
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()
