"""The asyncio transport: streams read whole, connections handed back, and TLS (through
a local terminator in front of the simulator, with a certificate the client must verify)."""

from __future__ import annotations

import ssl

import httpx
import pytest

from chat.grok import Completed, GrokClient, ProviderConfig, ResponsesRequest, TextDelta
from chat.grok.transport import AsyncioTransport

from .forward_proxy import forward_proxy
from .tls import self_signed, tls_terminator


@pytest.fixture
def certificates(tmp_path):
    return self_signed(tmp_path)


async def test_a_reply_streams_whole_over_verified_tls(simulator, certificates):
    async with tls_terminator(certificates, simulator.url) as base_url:
        verify = ssl.create_default_context(cafile=str(certificates.ca))
        async with httpx.AsyncClient(transport=AsyncioTransport(verify=verify)) as http:
            client = GrokClient(ProviderConfig.gateway(base_url, "xai-test"), http=http)
            events = [
                e
                async for e in client.responses_stream(
                    ResponsesRequest(model="grok-4.3", input="Over TLS [[sim tokens=30]]")
                )
            ]
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert isinstance(events[-1], Completed)
    assert text == events[-1].text and text.startswith("Reply to turn 1")


async def test_an_unverifiable_certificate_is_refused(simulator, certificates):
    async with (
        tls_terminator(certificates, simulator.url) as base_url,
        httpx.AsyncClient(transport=AsyncioTransport()) as http,
    ):  # the system's CAs only
        with pytest.raises(httpx.ConnectError):
            await http.get(base_url + "/models")


async def test_a_reply_left_half_read_hands_its_connection_back(simulator):
    # One connection in the pool: were it kept by the abandoned reply, the next request
    # would wait for it until the pool timeout.
    transport = AsyncioTransport(limits=httpx.Limits(max_connections=1))
    async with httpx.AsyncClient(
        transport=transport, timeout=httpx.Timeout(10, pool=5), headers={"Authorization": "Bearer xai-test"}
    ) as http:
        for turn in range(3):
            body = {"model": "grok-4.3", "stream": True, "input": f"Half read {turn} [[sim tokens=200]]"}
            async with http.stream("POST", simulator.v1 + "/responses", json=body) as response:
                async for _ in response.aiter_raw():
                    break
        assert (await http.get(simulator.v1 + "/models")).status_code == 200


async def test_a_reply_streams_whole_through_an_https_proxy(simulator, certificates):
    # TLS to the proxy, then TLS to the server inside that tunnel.
    verify = ssl.create_default_context(cafile=str(certificates.ca))
    async with tls_terminator(certificates, simulator.url) as base_url, forward_proxy(tls=certificates) as proxy:
        transport = AsyncioTransport(verify=verify, proxy=httpx.Proxy(proxy.url, ssl_context=verify))
        async with httpx.AsyncClient(transport=transport) as http:
            client = GrokClient(ProviderConfig.gateway(base_url, "xai-test"), http=http)
            events = [
                e
                async for e in client.responses_stream(
                    ResponsesRequest(model="grok-4.3", input="Through an HTTPS proxy [[sim tokens=30]]")
                )
            ]

    assert isinstance(events[-1], Completed)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == events[-1].text
    assert proxy.relayed == [f"CONNECT {base_url.removeprefix('https://').removesuffix('/v1')}"]
