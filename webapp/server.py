"""daphne with permessage-deflate on websockets: ``python -m webapp.server`` takes daphne's
own arguments.

A streamed reply is hundreds of small frames whose JSON envelope repeats; compressed
with context takeover, the envelope shrinks to a few bytes and ``turn.done``'s copy of
the content mostly points back at the deltas, so a reply costs about its own size on
the wire instead of ten times it (bench/results/bench.md). daphne does not enable
compression itself and has no option for it; every browser offers it.

This is the one module that depends on daphne's internals: daphne builds its websocket
factory inside ``Server.run()`` and sets its options there, so the option is set as the
factory is assigned. daphne is pinned to the exact version this was written against
(``pyproject.toml``), and ``tests/test_server.py`` fails on any other.
"""

from __future__ import annotations

import gc

import daphne
from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept
from daphne.cli import CommandLineInterface
from daphne.server import Server as DaphneServer
from twisted.internet import reactor

DAPHNE_VERSION = "4.2.3"  # the version whose run() this module was checked against

# A 4 KiB window holds a reply's recent text and every envelope, and keeps a socket's
# compressor near 24 KiB instead of zlib's default 256 KiB.
WINDOW_BITS = 12
MEM_LEVEL = 5


def accept_deflate(offers: list) -> PerMessageDeflateOfferAccept | None:
    for offer in offers:
        if isinstance(offer, PerMessageDeflateOffer):
            bits = max(9, min(WINDOW_BITS, offer.request_max_window_bits or WINDOW_BITS))
            return PerMessageDeflateOfferAccept(offer, window_bits=bits, mem_level=MEM_LEVEL)
    return None


def serving_started() -> None:
    """The process's event loop runs: start what runs beside the requests."""
    from chat import sweeper  # after Django is set up by the application's import

    sweeper.start()


class Server(DaphneServer):
    def run(self) -> None:
        if daphne.__version__ != DAPHNE_VERSION:
            raise RuntimeError(
                f"webapp/server.py was written for daphne {DAPHNE_VERSION}, not {daphne.__version__}: "
                "check how Server.run() builds its websocket factory, then update the pin"
            )
        # Everything imported so far lives as long as the process. Left to the
        # collector, its full passes walked all of it and paused every stream of the
        # process for 75-105 ms under load; frozen, they take 10-20 ms.
        gc.freeze()
        reactor.callWhenRunning(serving_started)
        super().run()

    @property
    def ws_factory(self):
        return self._ws_factory

    @ws_factory.setter
    def ws_factory(self, factory) -> None:
        factory.setProtocolOptions(perMessageCompressionAccept=accept_deflate)
        self._ws_factory = factory


class CommandLine(CommandLineInterface):
    server_class = Server


if __name__ == "__main__":
    CommandLine.entrypoint()
