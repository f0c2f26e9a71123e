"""A person in a real browser: sign in, send, watch the reply stream, stop, reload, second tab."""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect

from .conftest import ready

REPLY = "[data-message-id] .reply"


def send(page, text: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")


def test_a_reply_streams_in_token_by_token_and_ends_with_usage(signed_in):
    watched = signed_in()
    page = watched.page
    expect(page.locator("#simulator-banner")).to_contain_text("local Grok simulator")

    send(page, "Hello **Grok** [[sim tokens=120 tps=40]]")

    streaming = page.locator("[data-state=streaming] .reply")
    expect(streaming).to_contain_text("Reply to turn 1", timeout=10_000)
    partial = streaming.inner_text()
    expect(page.get_by_role("button", name="Stop")).to_be_enabled()
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    done = page.locator("[data-state=completed] .reply")
    expect(done).to_have_count(1, timeout=15_000)
    assert len(done.inner_text()) > len(partial)  # it grew while we watched
    assert done.inner_text().startswith(partial.strip()[:20])
    expect(page.locator("[data-state=completed] .usage")).to_contain_text(re.compile(r"\d+ tokens · \$0\.\d+"))
    expect(page).to_have_url(re.compile(r"/c/\d+/$"))
    expect(page.locator("#conversation-list")).to_contain_text("Hello **Grok**")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    assert watched.errors == []


def test_shift_enter_is_a_new_line_and_enter_sends(signed_in):
    page = signed_in().page
    box = page.get_by_role("textbox", name="Message")
    box.fill("line one")
    box.press("Shift+Enter")
    box.type("line two [[sim tokens=3]]")
    assert box.input_value() == "line one\nline two [[sim tokens=3]]"
    box.press("Enter")
    expect(page.locator("[data-state=completed] .reply")).to_have_count(1, timeout=10_000)
    expect(box).to_have_value("")


def test_stop_keeps_the_partial_reply(signed_in):
    page = signed_in().page
    send(page, "A long answer please [[sim tokens=400 tps=20]]")
    expect(page.locator("[data-state=streaming] .reply")).to_contain_text("Reply to", timeout=10_000)

    page.get_by_role("button", name="Stop").click()

    cancelled = page.locator("[data-state=cancelled]")
    expect(cancelled).to_have_count(1, timeout=10_000)
    expect(cancelled.locator(".reply")).to_contain_text("Reply to")
    expect(cancelled).to_contain_text("Stopped")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()


def test_a_reload_mid_reply_shows_the_text_so_far_and_continues_without_gaps(signed_in):
    watched = signed_in()
    page = watched.page
    send(page, "Keep going after a reload [[sim tokens=160 tps=30]]")
    expect(page.locator("[data-state=streaming] .reply")).to_contain_text("Reply to", timeout=10_000)
    page.wait_for_url(re.compile(r"/c/\d+/$"))
    before = page.locator("[data-state=streaming] .reply").inner_text()

    page.reload()

    seen = page.locator("[data-state=streaming] .reply, [data-state=completed] .reply").first
    expect(seen).to_contain_text("Reply to", timeout=10_000)
    done = page.locator("[data-state=completed] .reply")
    expect(done).to_have_count(1, timeout=20_000)
    final = done.inner_text()
    assert final.startswith(before.strip())

    # What the server stored is exactly what the reloaded page pieced together.
    fresh = signed_in(page.context).page
    fresh.goto(page.url)
    expect(fresh.locator("[data-state=completed] .reply")).to_have_text(final)
    assert watched.errors == []


def test_a_second_tab_follows_the_same_reply_live(signed_in):
    first = signed_in().page
    send(first, "Two tabs [[sim tokens=150 tps=30]]")
    first.wait_for_url(re.compile(r"/c/\d+/$"))

    second = signed_in(first.context).page
    second.goto(first.url)
    expect(second.locator("[data-state=streaming] .reply")).to_contain_text("Reply to", timeout=10_000)

    expect(first.locator("[data-state=completed] .reply")).to_have_count(1, timeout=20_000)
    expect(second.locator("[data-state=completed] .reply")).to_have_count(1, timeout=20_000)
    assert first.locator(REPLY).last.inner_text() == second.locator(REPLY).last.inner_text()


def test_a_failed_reply_says_what_went_wrong_and_retry_answers_again(signed_in):
    page = signed_in().page
    send(page, "Flaky upstream [[sim fail=503 times=4]]")

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("temporarily unavailable", timeout=20_000)
    page.get_by_role("button", name="Retry").click()

    expect(page.locator("[data-state=completed] .reply")).to_contain_text("Reply to turn 1", timeout=20_000)
    expect(page.get_by_role("alert")).to_have_count(0)


def test_someone_elses_conversation_is_not_found(signed_in, browser, app_url):
    page = signed_in().page
    send(page, "Private [[sim tokens=3]]")
    page.wait_for_url(re.compile(r"/c/\d+/$"))

    context = browser.new_context()
    bob = context.new_page()
    bob.goto(app_url + "/accounts/login/")
    bob.get_by_label("Username").fill("bob")
    bob.get_by_label("Password").fill("correct horse battery")
    bob.get_by_role("button", name="Sign in").click()
    bob.wait_for_url(app_url + "/")
    response = bob.goto(page.url)
    assert response.status == 404
    assert "Private" not in bob.content()
    context.close()


def test_web_search_sources_show_as_links(signed_in):
    page = signed_in().page
    page.get_by_label("Search the web").check()
    send(page, "Search for news [[sim tokens=10]]")

    sources = page.locator("[data-state=completed]").get_by_role("list", name="Sources")
    expect(sources.get_by_role("link")).to_have_count(3, timeout=15_000)
    href = sources.get_by_role("link").first.get_attribute("href")
    assert href.startswith("https://example.com/grok-sim/")
    assert sources.get_by_role("link").first.get_attribute("rel") == "noopener noreferrer nofollow"


def test_the_browser_and_server_compress_the_reply_stream(signed_in):
    """permessage-deflate is negotiated with Chromium, and a reply still streams whole."""
    page = signed_in().page
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    handshakes: list[dict] = []
    cdp.on("Network.webSocketHandshakeResponseReceived", lambda event: handshakes.append(event["response"]))
    page.reload()
    ready(page)
    for _ in range(100):  # the handshake's event can arrive after the page is ready
        if handshakes:
            break
        page.wait_for_timeout(100)
    assert handshakes, "the page opened no websocket"
    headers = {k.lower(): v for k, v in handshakes[-1]["headers"].items()}
    assert "permessage-deflate" in headers.get("sec-websocket-extensions", "")

    send(page, "Compressed, please [[sim tokens=60]]")
    expect(page.locator("[data-state=completed] .reply")).to_contain_text("Reply to turn 1", timeout=10_000)


def test_a_five_megabyte_conversation_opens_and_every_message_can_be_read(signed_in, app_env, app_url):
    from playwright.sync_api import expect

    from .conftest import _manage

    # 40 turns of 32,000-character questions and 100,000-character answers: over 5 MB.
    created = (
        _manage(
            app_env,
            "shell",
            "-c",
            """
import random
from chat.models import Conversation, Message
from django.contrib.auth import get_user_model
rng = random.Random(3)
words = ["alpha", "beta", "gamma", "delta", "kappa", "sigma", "omega", "zeta"]
def text(n, tag):
    body = " ".join(rng.choice(words) + str(rng.randint(0, 99999)) for _ in range(n // 11))
    return tag + " " + body[: n - len(tag) - 1]
c = Conversation.objects.create(owner=get_user_model().objects.get(username="alice"), title="Very long")
parent = None
for turn in range(40):
    q = Message.objects.create(conversation=c, role="user", parent=parent,
                               content=text(32000, "FIRSTQUESTION" if turn == 0 else f"Question{turn}"))
    parent = Message.objects.create(conversation=c, role="assistant", parent=q, state="completed",
                                    content=text(100000, "LASTANSWER" if turn == 39 else f"Answer{turn}"))
print(c.pk)
""",
        )
        .strip()
        .splitlines()[-1]
    )
    watched = signed_in()
    page = watched.page
    page.goto(f"{app_url}/c/{created}/")
    expect(page.get_by_text("LASTANSWER", exact=False)).to_be_visible(timeout=20_000)
    first = page.get_by_text("FIRSTQUESTION", exact=False)
    for _ in range(100):  # scroll up as a person would, until the very first message has loaded
        if first.count():
            break
        page.evaluate("document.getElementById('messages').scrollTop = 0")
        page.wait_for_timeout(200)
    expect(first).to_be_visible()
    assert page.locator("#messages article").count() == 80
    assert not watched.errors


def test_a_page_whose_socket_was_away_shows_exactly_what_it_missed(signed_in):
    watched = signed_in()
    page = watched.page
    away, sockets, answers = [False], [], []

    def route(ws) -> None:
        if away[0]:
            ws.close()  # the server cannot be reached: the page keeps trying
            return
        server = ws.connect_to_server()

        def to_page(message) -> None:
            frame = json.loads(message)
            if frame.get("type") in ("conversation.state", "conversation.changes"):
                answers.append(frame)
            ws.send(message)

        server.on_message(to_page)
        sockets.append((ws, server))

    page.route_web_socket(re.compile(r"/ws/chat/$"), route)
    page.reload()
    ready(page)
    send(page, "Before the break [[sim tokens=20]]")
    expect(page.locator("[data-state=completed] .reply")).to_have_count(1, timeout=10_000)
    page.wait_for_url(re.compile(r"/c/\d+/$"))

    away[0] = True
    ws, server = sockets[-1]
    ws.close(code=1012)  # the server restarts
    server.close()
    other = signed_in(page.context).page
    other.goto(page.url)
    send(other, "While it was away [[sim tokens=20]]")
    expect(other.locator("[data-state=completed] .reply")).to_have_count(2, timeout=10_000)
    send(other, "Still going when it is back [[sim tokens=150 tps=30]]")
    expect(other.locator("[data-state=streaming] .reply")).to_contain_text("Reply to", timeout=10_000)
    away[0] = False

    expect(page.locator("[data-state=completed] .reply")).to_have_count(3, timeout=30_000)
    expect(other.locator("[data-state=completed] .reply")).to_have_count(3, timeout=30_000)
    changes = answers[-1]
    assert changes["type"] == "conversation.changes" and changes["since"] > 0
    assert len(changes["messages"]) == 4  # the two turns it missed, and nothing it had
    fresh = signed_in(page.context).page
    fresh.goto(page.url)
    expect(fresh.locator("[data-state=completed] .reply")).to_have_count(3, timeout=10_000)
    ids = "els => els.map(e => e.dataset.messageId)"
    assert page.locator("[data-message-id]").evaluate_all(ids) == fresh.locator("[data-message-id]").evaluate_all(ids)
    assert len(page.locator("[data-message-id]").evaluate_all(ids)) == 6
    assert page.locator("[data-message-id]").all_inner_texts() == fresh.locator("[data-message-id]").all_inner_texts()
    assert watched.errors == []
