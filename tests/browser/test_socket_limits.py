"""A tab opened past the person's socket limit says why, and does not keep reconnecting."""

from __future__ import annotations

import json
from contextlib import ExitStack, suppress

from playwright.sync_api import expect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from .conftest import ready
from .test_chat import send

SOCKETS_MAX = 25  # more than the app's MAX_SOCKETS_PER_PERSON (20, its default)


def open_until_refused(app_url: str, cookie: str, stack: ExitStack) -> int:
    """Open sockets as alice until one is refused; how many were admitted."""
    host = app_url.removeprefix("http://")
    for admitted in range(SOCKETS_MAX):
        ws = stack.enter_context(
            connect(f"ws://{host}/ws/chat/", origin=app_url, additional_headers={"Cookie": f"sessionid={cookie}"})
        )
        with suppress(ConnectionClosed):  # a refused one may be closed already
            ws.send(json.dumps({"type": "probe"}))  # unknown: an admitted socket answers bad_frame
        if json.loads(ws.recv(timeout=10))["code"] == "too_many_sockets":
            return admitted
    raise AssertionError(f"{SOCKETS_MAX} sockets and none refused")


def test_a_tab_past_the_limit_shows_why_and_stays_closed(signed_in, app_url):
    first = signed_in()
    context = first.page.context
    cookie = next(c["value"] for c in context.cookies() if c["name"] == "sessionid")
    with ExitStack() as others:
        assert open_until_refused(app_url, cookie, others) > 0

        tab = signed_in(context).page
        sockets = []
        tab.on("websocket", lambda ws: sockets.append(ws.url))
        tab.goto(app_url + "/")
        status = tab.locator("#status")
        expect(status).to_have_text(
            "You have 20 chat tabs open already (at most 20): close one and reload.", timeout=10_000
        )
        expect(tab.get_by_role("button", name="Send")).to_be_disabled()

    # Places are free again, but the refused tab does not try again on its own (it
    # would now get in): it stays as it was until the person reloads it.
    tab.wait_for_timeout(2_000)  # several times the first reconnect's delay
    assert len(sockets) == 1
    expect(status).to_contain_text("close one and reload")

    tab.reload()
    ready(tab)
    send(tab, "Back again [[sim tokens=3]]")
    expect(tab.locator("[data-state=completed] .reply")).to_have_count(1, timeout=10_000)
