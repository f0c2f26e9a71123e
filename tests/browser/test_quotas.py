"""An admin sets a budget; a member sees what is left under the composer, uses it up and
reads why the next message is refused."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from .test_account import _people, _sign_in


def test_an_admin_sets_a_budget_and_a_member_reads_why_their_message_is_refused(browser, app_url, app_env):
    owner, member = f"olga{uuid.uuid4().hex[:6]}", f"mick{uuid.uuid4().hex[:6]}"
    _people(app_env, (owner, "owner"), (member, "member"))
    admin, page = _sign_in(browser, app_url, owner)
    page.goto(app_url + "/manage/quotas/")
    each = page.get_by_role("form", name="Each person's limits")
    each.get_by_label("Tokens a day").fill("5000")
    each.get_by_role("button", name="Save limits").click()
    expect(page.get_by_text("Limits saved.")).to_be_visible()
    expect(page.get_by_role("form", name="Each person's limits").get_by_label("Tokens a day")).to_have_value("5000")

    context, chat = _sign_in(browser, app_url, member)
    allowance = chat.locator("#allowance")
    expect(allowance).to_have_text("You today: 5,000 left of 5,000 tokens")
    chat.get_by_role("textbox", name="Message").fill("Tell me a long story [[sim tokens=4000 tps=0]]")
    chat.get_by_role("button", name="Send").click()
    expect(chat.locator("article.assistant").last).to_contain_text("tokens", timeout=15_000)  # done, usage shown
    expect(allowance).not_to_have_text("You today: 5,000 left of 5,000 tokens")

    chat.get_by_role("textbox", name="Message").fill("And another one")
    chat.get_by_role("button", name="Send").click()
    expect(chat.locator("#status")).to_contain_text("Your daily budget of 5,000 tokens has")
    expect(chat.locator("#status")).to_contain_text("it resets at midnight (UTC)")
    expect(chat.get_by_role("textbox", name="Message")).to_have_value("And another one")  # not lost
    context.close()
    admin.close()
