"""An admin adds a provider key and sees only its last four; turns a model off and it leaves the picker."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from .test_account import _people, _sign_in

SECRET = "xai-BrowserTyped-secret-000000000-q7r2"


def test_an_admin_adds_a_key_sees_its_last_four_and_turns_a_model_off(browser, app_url, app_env, simulator):
    owner, member = f"olga{uuid.uuid4().hex[:6]}", f"mick{uuid.uuid4().hex[:6]}"
    _people(app_env, (owner, "owner"), (member, "member"))
    context, page = _sign_in(browser, app_url, owner)
    picker = page.get_by_label("Model", exact=True)
    expect(picker.locator("option[value='grok-4.3']")).to_have_count(1)

    page.goto(app_url + "/manage/keys/")
    page.get_by_label("Provider", exact=True).select_option("xai")
    page.get_by_label("Name (optional)").fill("Main key")
    page.get_by_label("API key, or the service account's JSON for Vertex AI").fill(SECRET)
    page.get_by_label("Base URL (gateways; leave empty for the provider's own)").fill(simulator.v1)
    page.get_by_role("button", name="Save and check the key").click()
    expect(page.get_by_text("Saved “Main key” (…q7r2)")).to_be_visible()
    expect(page.get_by_role("row", name="Main key")).to_contain_text("Working")
    assert SECRET[4:-4] not in page.content()  # only the last four, anywhere on the page

    page.goto(app_url + "/manage/models/")
    page.get_by_role("button", name="Turn off grok-4.3").click()
    expect(page.get_by_text("grok-4.3: turned off")).to_be_visible()

    page.goto(app_url + "/")
    expect(picker.locator("option")).not_to_have_count(0)
    expect(picker.locator("option[value='grok-4.3']")).to_have_count(0)
    # A member of the team sees the same picker (their process read the change at once or within 10 s).
    other, theirs = _sign_in(browser, app_url, member)
    expect(theirs.get_by_label("Model", exact=True).locator("option[value='grok-4.3']")).to_have_count(
        0, timeout=15_000
    )
    other.close()
    context.close()
