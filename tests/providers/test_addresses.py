"""A credential's base URL: https, public addresses only (unless the deployment allows), checked again at connect."""

from __future__ import annotations

import asyncio
import dataclasses
import socket

import pytest

from chat.grok import GrokClient, GrokError, ProviderConfig
from webapp.providers.addresses import AddressRefused, base_url_check


def resolving_to(*addresses):
    def resolve(host, port, type=0):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return resolve


@pytest.fixture(autouse=True)
def public_only(settings):
    settings.PROVIDER_PRIVATE_URLS_ALLOWED = False
    settings.PROVIDER_LOOPBACK_URLS_ALLOWED = False


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.5",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fd00::1",
        "0.0.0.0",
        "100.64.0.1",
        "::ffff:169.254.169.254",  # IPv4-mapped
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "::a9fe:a9fe",  # IPv4-compatible
    ],
)
def test_private_loopback_and_link_local_addresses_are_refused(address):
    with pytest.raises(AddressRefused, match="private or local address"):
        base_url_check("https://gateway.example.com/v1", resolve=resolving_to(address))


def test_one_private_answer_among_public_ones_is_enough_to_refuse():
    with pytest.raises(AddressRefused):
        base_url_check("https://gateway.example.com/v1", resolve=resolving_to("93.184.216.34", "10.1.1.1"))


def test_a_public_https_address_is_accepted_without_its_trailing_slash():
    assert base_url_check("https://gateway.example.com/v1/", resolve=resolving_to("93.184.216.34")) == (
        "https://gateway.example.com/v1"
    )


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://gateway.example.com/v1", "Use https"),
        ("ftp://gateway.example.com", "starts with https"),
        ("gateway.example.com", "starts with https"),
        ("https://user:pw@gateway.example.com/v1", "user name and password"),
        ("https://gateway.example.com/v1?key=1", "query"),
    ],
)
def test_malformed_or_unencrypted_addresses_are_refused_with_words(url, words):
    with pytest.raises(AddressRefused, match=words):
        base_url_check(url, resolve=resolving_to("93.184.216.34"))


def test_the_single_machine_mode_allows_the_local_simulator_and_nothing_else_private(settings):
    settings.PROVIDER_LOOPBACK_URLS_ALLOWED = True
    assert base_url_check("http://127.0.0.1:8090/v1") == "http://127.0.0.1:8090/v1"
    for address in ("169.254.169.254", "10.0.0.5"):
        with pytest.raises(AddressRefused):
            base_url_check("http://gateway.example.com/v1", resolve=resolving_to(address))


def test_a_public_ipv6_address_is_accepted():
    assert base_url_check("https://gw.example.com/v1", resolve=resolving_to("2606:4700::6810:84e5"))


def test_the_transport_refuses_a_private_address_at_connect_time(simulator):
    """A host that resolved to a public address when it was saved and to a private one now
    (here: the simulator on 127.0.0.1 itself) is not reached."""

    async def ask(public_only: bool):
        config = dataclasses.replace(ProviderConfig.xai("xai-test", base_url=simulator.v1), public_only=public_only)
        client = GrokClient(config)
        return await client.api_key_info()

    assert asyncio.run(ask(False))["api_key_blocked"] is False
    with pytest.raises(GrokError) as refused:
        asyncio.run(ask(True))
    assert refused.value.status is None
