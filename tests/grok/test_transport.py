"""The asyncio transport over TLS: a stream read from the simulator through a local TLS
terminator, with a certificate the client must verify."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
from urllib.parse import urlparse

import httpx
import pytest

from chat.grok import Completed, GrokClient, ProviderConfig, ResponsesRequest, TextDelta
from chat.grok.transport import AsyncioTransport


@pytest.fixture
def certificate(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True)
    return key, cert


@contextlib.asynccontextmanager
async def tls_terminator(certificate, upstream: str):
    """HTTPS on a local port, relayed byte for byte to the simulator's plain HTTP."""
    key, cert = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    target = urlparse(upstream)

    async def pipe(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def handle(client_reader, client_writer):
        up_reader, up_writer = await asyncio.open_connection(target.hostname, target.port)
        await asyncio.gather(pipe(client_reader, up_writer), pipe(up_reader, client_writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    async with server:
        yield f"https://localhost:{server.sockets[0].getsockname()[1]}/v1"


async def test_a_reply_streams_whole_over_verified_tls(simulator, certificate):
    async with tls_terminator(certificate, simulator.url) as base_url:
        verify = ssl.create_default_context(cafile=str(certificate[1]))
        async with httpx.AsyncClient(transport=AsyncioTransport(verify=verify)) as http:
            client = GrokClient(ProviderConfig.gateway(base_url, "xai-test"), http=http)
            events = [e async for e in client.responses_stream(
                ResponsesRequest(model="grok-4.3", input="Over TLS [[sim tokens=30]]"))]
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert isinstance(events[-1], Completed)
    assert text == events[-1].text and text.startswith("Reply to turn 1")


async def test_an_unverifiable_certificate_is_refused(simulator, certificate):
    async with tls_terminator(certificate, simulator.url) as base_url, \
            httpx.AsyncClient(transport=AsyncioTransport()) as http:  # the system's CAs only
        with pytest.raises(httpx.ConnectError):
            await http.get(base_url + "/models")
