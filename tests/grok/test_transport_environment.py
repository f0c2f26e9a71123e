"""The app's upstream client honours the environment as httpx's own client does: the
proxies in HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY, and the certificate
authorities in SSL_CERT_FILE and SSL_CERT_DIR.

Every request goes through ``shared_http_client()``, the client a ``GrokClient`` given no
client of its own uses in production, built after the test has set the environment.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest

from chat.grok import Completed, GrokClient, ProviderConfig, ResponsesRequest, TextDelta, shared_http_client
from chat.grok.transport import asyncio_client

from .forward_proxy import forward_proxy
from .tls import hashed_ca_directory, signed_by_own_ca, tls_terminator

VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUEST_METHOD")


@pytest.fixture(autouse=True)
def environment(monkeypatch):
    """The machine's own proxy and certificate settings are left out of every test."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


@pytest.fixture
def certificates(tmp_path):
    return signed_by_own_ca(tmp_path)


@contextlib.asynccontextmanager
async def app_client() -> AsyncIterator[httpx.AsyncClient]:
    """The process's shared client, built now from the environment, closed on the way out."""
    async with shared_http_client() as http:
        yield http


async def streamed_reply(base_url: str) -> Completed:
    """A streamed Responses reply through a GrokClient on the shared client; checks it arrived whole."""
    client = GrokClient(ProviderConfig.gateway(base_url, "xai-test"))
    events = [
        e
        async for e in client.responses_stream(
            ResponsesRequest(model="grok-4.3", input="Through the environment [[sim tokens=30]]")
        )
    ]
    assert isinstance(events[-1], Completed), events[-1]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == events[-1].text
    assert events[-1].text.startswith("Reply to turn 1")
    return events[-1]


# ----- proxies ---------------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "ALL_PROXY"])
async def test_a_plain_http_reply_is_relayed_by_the_proxy_the_environment_names(simulator, environment, variable):
    async with forward_proxy() as proxy:
        environment.setenv(variable, proxy.url)
        async with app_client():
            await streamed_reply(simulator.v1)

    assert proxy.relayed == [f"POST {simulator.v1}/responses"]


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "ALL_PROXY"])
async def test_an_https_reply_tunnels_through_the_proxy_the_environment_names(
    simulator, environment, certificates, variable
):
    environment.setenv("SSL_CERT_FILE", str(certificates.ca))
    async with tls_terminator(certificates, simulator.url) as base_url, forward_proxy() as proxy:
        environment.setenv(variable, proxy.url)
        async with app_client():
            await streamed_reply(base_url)

    assert proxy.relayed == [f"CONNECT localhost:{urlsplit(base_url).port}"]


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_a_host_in_no_proxy_is_reached_directly(simulator, environment, certificates, scheme):
    environment.setenv("SSL_CERT_FILE", str(certificates.ca))
    async with tls_terminator(certificates, simulator.url) as https_url, forward_proxy() as proxy:
        environment.setenv("ALL_PROXY", proxy.url)
        environment.setenv("NO_PROXY", "example.org, localhost")
        async with app_client():
            await streamed_reply(https_url if scheme == "https" else simulator.v1.replace("127.0.0.1", "localhost"))

    assert proxy.relayed == []


ROUTES = [  # environment ({proxy}: the proxy's URL, {address}: the same without a scheme), host, proxied
    ({"HTTP_PROXY": "{proxy}"}, "127.0.0.1", True),
    ({"http_proxy": "{address}"}, "127.0.0.1", True),
    ({"HTTPS_PROXY": "{proxy}"}, "127.0.0.1", False),
    ({"ALL_PROXY": "{proxy}"}, "localhost", True),
    ({"ALL_PROXY": "{proxy}", "NO_PROXY": "127.0.0.1"}, "127.0.0.1", False),
    ({"ALL_PROXY": "{proxy}", "NO_PROXY": "localhost"}, "127.0.0.1", True),
    ({"ALL_PROXY": "{proxy}", "no_proxy": "*"}, "localhost", False),
    ({"HTTP_PROXY": "{proxy}", "REQUEST_METHOD": "GET"}, "127.0.0.1", False),  # CGI: HTTP_PROXY is a header
]


@pytest.mark.parametrize("settings,host,proxied", ROUTES)
async def test_the_app_takes_a_proxy_exactly_when_httpx_would(simulator, environment, settings, host, proxied):
    url = simulator.url.replace("127.0.0.1", host) + "/sim/health"

    async def relayed_by_proxy(make_client) -> bool:
        async with forward_proxy() as proxy:
            for name, value in settings.items():
                environment.setenv(name, value.format(proxy=proxy.url, address=proxy.url.removeprefix("http://")))
            async with make_client() as http:
                assert (await http.get(url)).status_code == 200
        return bool(proxy.relayed)

    assert await relayed_by_proxy(app_client) is proxied
    assert await relayed_by_proxy(httpx.AsyncClient) is proxied


async def test_a_socks_proxy_without_socksio_fails_as_httpx_does(environment):
    try:
        import socksio  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("socksio is installed, so SOCKS proxies work")
    environment.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")

    with pytest.raises(ImportError) as httpx_own:
        httpx.AsyncClient()
    with pytest.raises(ImportError) as ours:
        shared_http_client()

    assert str(ours.value) == str(httpx_own.value) and "socksio" in str(ours.value)


# ----- certificate authorities -----------------------------------------------------------------


async def test_a_server_signed_by_an_authority_nobody_named_is_refused(simulator, certificates):
    async with tls_terminator(certificates, simulator.url) as base_url, app_client() as http:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.get(base_url + "/models")


async def test_ssl_cert_file_names_the_authorities_the_app_trusts(simulator, environment, certificates):
    environment.setenv("SSL_CERT_FILE", str(certificates.ca))
    async with tls_terminator(certificates, simulator.url) as base_url, app_client():
        await streamed_reply(base_url)


async def test_ssl_cert_dir_names_a_directory_of_authorities_the_app_trusts(
    simulator, environment, certificates, tmp_path
):
    environment.setenv("SSL_CERT_DIR", str(hashed_ca_directory(certificates, tmp_path / "authorities")))
    async with tls_terminator(certificates, simulator.url) as base_url, app_client():
        await streamed_reply(base_url)


# ----- trust_env=False -------------------------------------------------------------------------


@pytest.mark.parametrize("make_client", [asyncio_client, httpx.AsyncClient], ids=["app", "httpx"])
async def test_a_client_that_does_not_trust_the_environment_ignores_it(
    simulator, environment, certificates, make_client
):
    environment.setenv("SSL_CERT_FILE", str(certificates.ca))
    async with tls_terminator(certificates, simulator.url) as base_url, forward_proxy() as proxy:
        environment.setenv("ALL_PROXY", proxy.url)
        async with make_client(trust_env=False) as http:
            assert (await http.get(simulator.url + "/sim/health")).status_code == 200
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await http.get(base_url + "/models")

    assert proxy.relayed == []
