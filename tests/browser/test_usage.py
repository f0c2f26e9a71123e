"""An admin reads the team's usage: a chart per day with a name a screen reader says, the
table, and the same table downloaded as CSV; on a phone the table scrolls, not the page."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import expect

from .conftest import _manage
from .test_account import _people, _sign_in

CENT = 100_000_000  # ticks


def _usage(app_env, *records: tuple[str, str, int, int]) -> None:
    """(username, model, input tokens, cost in ticks): requests made now, in the person's team."""
    _manage(
        app_env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model as m; from webapp.accounts.models import UsageRecord\n"
        f"for n, model, tokens, ticks in {list(records)!r}:\n"
        "    u = m().objects.get(username=n)\n"
        "    UsageRecord.objects.create(\n"
        "        user=u, team=u.active_team, model=model, input_tokens=tokens, cost_ticks=ticks\n"
        "    )",
    )


def _name(app_env, username: str, display_name: str) -> None:
    _manage(
        app_env,
        "shell",
        "-c",
        f"from django.contrib.auth import get_user_model as m; m().objects.filter(username={username!r})"
        f".update(display_name={display_name!r})",
    )


def test_an_admin_reads_the_teams_usage_and_downloads_the_table(browser, app_url, app_env):
    owner, member = f"olga{uuid.uuid4().hex[:6]}", f"mick{uuid.uuid4().hex[:6]}"
    _people(app_env, (owner, "owner"), (member, "member"))
    _name(app_env, member, "=1+2")  # a name a spreadsheet would run
    _usage(app_env, (owner, "grok-4.3", 1200, 150 * CENT), (member, "grok-4-fast", 300, 25 * CENT))
    _usage(app_env, (member, "grok-4.3", 500, 50 * CENT))
    context, page = _sign_in(browser, app_url, owner)

    page.goto(app_url + "/manage/")
    page.get_by_role("navigation", name="Team console").get_by_role("link", name="Usage").click()
    expect(page.get_by_role("heading", name="usage and cost")).to_be_visible()
    expect(page.get_by_role("img", name=re.compile(r"^Spend per day from .*: \$2\.25 in all"))).to_be_visible()
    expect(page.get_by_role("img", name=re.compile(r"^Tokens per day from .*: 2,000 tokens in all"))).to_be_visible()

    page.get_by_label("Group by").select_option(label="Person")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", name="By person")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile(owner))).to_contain_text("$1.50")
    expect(page.get_by_role("row", name=re.compile(member))).to_contain_text("$0.75")

    with page.expect_download() as downloading:
        page.get_by_role("link", name="Download this table as CSV").click()
    download = downloading.value
    assert re.fullmatch(r"usage-team-\w+-\d{4}-\d\d-\d\d-\d{4}-\d\d-\d\d-person\.csv", download.suggested_filename)
    with open(download.path(), encoding="utf-8") as csv_file:
        assert csv_file.read().splitlines() == [
            "Person,Requests,Input tokens,Cached input tokens,Output tokens,Reasoning tokens,Total tokens,"
            "Cost (USD),Estimated,Failed",
            f"{owner},1,1200,0,0,0,1200,1.500000,0,0",
            f"'=1+2 ({member}),2,800,0,0,0,800,0.750000,0,0",
        ]

    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_role("region", name="Table: by person")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # the table scrolls instead
    context.close()
