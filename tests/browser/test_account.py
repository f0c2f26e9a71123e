"""A person's own account in the browser: their name, their password, their other sessions."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from .conftest import PASSWORD, _manage, ready


def _people(app_env, *people: tuple[str, str | None]) -> None:
    """Accounts of their own, since these tests change what people sign in with: each
    (username, role) is in one new team when it has a role, in none when it is None."""
    _manage(
        app_env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model as m; from webapp.accounts.models import Team, Membership\n"
        f"people = {list(people)!r}\n"
        "t = Team.objects.create(name='Team ' + people[0][0][-6:]) if any(r for _, r in people) else None\n"
        "for n, r in people:\n"
        f"    u = m().objects.create_user(n, password={PASSWORD!r}, active_team=t if r else None)\n"
        "    r and Membership.objects.create(team=t, user=u, role=r)",
    )


def _person(app_env) -> str:
    name = f"dora{uuid.uuid4().hex[:6]}"
    _people(app_env, (name, None))
    return name


def _sign_in(browser, app_url, username: str, password: str = PASSWORD):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(app_url + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(app_url + "/")
    ready(page)
    return context, page


def test_a_person_changes_their_password_and_their_other_browser_is_signed_out(browser, app_url, app_env):
    name = _person(app_env)
    here, page = _sign_in(browser, app_url, name)
    elsewhere, other = _sign_in(browser, app_url, name)
    new = "another long passphrase"

    page.get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill(new)
    page.get_by_label("New password again").fill(new)
    page.get_by_role("button", name="Change password").click()

    expect(page.get_by_text("Your password is changed")).to_be_visible()
    # The other browser's open chat ends and shows the sign-in page.
    expect(other.get_by_role("button", name="Sign in")).to_be_visible(timeout=15_000)
    # This one stays signed in; the old password no longer works, the new one does.
    page.get_by_role("link", name="Back to the chat").click()
    ready(page)
    elsewhere.close()
    context = browser.new_context()
    refused = context.new_page()
    refused.goto(app_url + "/accounts/login/")
    refused.get_by_label("Username").fill(name)
    refused.get_by_label("Password").fill(PASSWORD)
    refused.get_by_role("button", name="Sign in").click()
    expect(refused.get_by_role("alert")).to_contain_text("do not match")
    context.close()
    again, _ = _sign_in(browser, app_url, name, new)
    again.close()
    here.close()


def test_a_display_name_set_on_the_account_page_shows_in_the_chat(browser, app_url, app_env):
    name = _person(app_env)
    context, page = _sign_in(browser, app_url, name)
    page.goto(app_url + "/accounts/profile/")
    page.get_by_label("Display name").fill("Dora the Explorer")
    page.get_by_role("button", name="Save name").click()
    expect(page.get_by_text("Your name is saved")).to_be_visible()
    page.goto(app_url + "/")
    ready(page)
    expect(page.get_by_role("link", name="Dora the Explorer")).to_be_visible()
    context.close()


def test_an_owner_deactivates_a_member_whose_chat_is_open_and_it_signs_out(browser, app_url, app_env):
    tag = uuid.uuid4().hex[:6]
    owner, member = f"olga{tag}", f"mike{tag}"
    _people(app_env, (owner, "owner"), (member, "member"))
    theirs, chat = _sign_in(browser, app_url, member)
    expect(chat.get_by_role("link", name="Manage team")).to_have_count(0)  # a member has no console
    ours, console = _sign_in(browser, app_url, owner)

    console.get_by_role("link", name="Manage team").click()
    expect(console.get_by_role("heading", name=f"Team {tag}: people")).to_be_visible()
    console.get_by_role("button", name=f"Deactivate {member}").click()

    expect(console.get_by_text(f"{member} is deactivated")).to_be_visible()
    expect(console.get_by_role("button", name=f"Reactivate {member}")).to_be_visible()
    expect(chat.get_by_role("button", name="Sign in")).to_be_visible(timeout=15_000)
    theirs.close()
    ours.close()


def test_an_owner_invites_someone_who_joins_from_the_link_in_another_browser(browser, app_url, app_env):
    tag = uuid.uuid4().hex[:6]
    owner, newcomer = f"ines{tag}", f"jack{tag}"
    _people(app_env, (owner, "owner"))
    ours, console = _sign_in(browser, app_url, owner)
    console.goto(app_url + "/manage/invitations/")
    console.get_by_label("Role").select_option("admin")
    console.get_by_role("button", name="Make an invitation link").click()
    expect(console.get_by_text("Invitation made")).to_be_visible()
    link = console.get_by_label("Invitation link").input_value()

    theirs = browser.new_context(viewport={"width": 390, "height": 844})
    page = theirs.new_page()
    page.goto(link)
    expect(page.get_by_text(f"Join Team {tag} as admin")).to_be_visible()
    page.get_by_label("Username").fill(newcomer)
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Password again").fill("short")
    page.get_by_role("button", name="Join").click()
    expect(page.get_by_role("alert")).to_contain_text("too short")
    page.get_by_label("Password", exact=True).fill("a long enough passphrase")
    page.get_by_label("Password again").fill("a long enough passphrase")
    page.get_by_role("button", name="Join").click()
    ready(page)  # in the chat, signed in
    expect(page.get_by_role("link", name=newcomer)).to_be_visible()

    console.goto(app_url + "/manage/")
    expect(console.locator(f"[data-person='{newcomer}']")).to_contain_text("Active")
    page.goto(link)
    expect(page.get_by_role("alert")).to_contain_text("has been used")  # once only
    theirs.close()
    ours.close()


def test_an_owner_opens_sign_up_and_a_newcomer_on_a_phone_creates_an_account(browser, app_url, app_env):
    tag = uuid.uuid4().hex[:6]
    owner, newcomer = f"nora{tag}", f"paul{tag}"
    _people(app_env, (owner, "owner"))
    ours, console = _sign_in(browser, app_url, owner)
    console.goto(app_url + "/manage/team/")
    console.get_by_label("Anyone may create an account in this team").check()
    console.get_by_label("Instructions for every reply in this team").fill("Answer in British English.")
    console.get_by_role("button", name="Save settings").click()
    expect(console.get_by_text("The team's settings are saved.")).to_be_visible()

    theirs = browser.new_context(viewport={"width": 390, "height": 844})
    page = theirs.new_page()
    page.goto(app_url + "/accounts/login/")
    link = page.get_by_role("link", name=f"Create an account in Team {tag}")
    if not link.count():  # the only team taking sign-ups: one plain link
        link = page.get_by_role("link", name="Create an account")
    link.click()
    expect(page.get_by_text(f"Create an account in Team {tag}")).to_be_visible()
    page.get_by_label("Username").fill(newcomer)
    page.get_by_label("Display name (optional)").fill("Paul")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Password again").fill("short")
    page.get_by_role("button", name="Create the account").click()
    expect(page.get_by_role("alert")).to_contain_text("too short")
    page.get_by_label("Password", exact=True).fill("a long enough passphrase")
    page.get_by_label("Password again").fill("a long enough passphrase")
    page.get_by_role("button", name="Create the account").click()
    ready(page)  # in the chat, signed in
    expect(page.get_by_role("link", name="Paul")).to_be_visible()

    console.goto(app_url + "/manage/audit/")
    expect(console.locator("[data-action='member.signup']")).to_contain_text(newcomer)
    expect(console.locator("[data-action='team.signup']")).to_contain_text(owner)
    theirs.close()
    ours.close()


def test_someone_in_two_teams_switches_from_the_chat_and_an_admin_reads_the_log_on_a_phone(browser, app_url, app_env):
    tag = uuid.uuid4().hex[:6]
    owner, both = f"rita{tag}", f"sam{tag}"
    _people(app_env, (owner, "owner"), (both, "member"))
    _manage(
        app_env,
        "shell",
        "-c",
        "from webapp.accounts.models import Team, Membership, User\n"
        f"t = Team.objects.create(name='Other {tag}')\n"
        f"Membership.objects.create(team=t, user=User.objects.get(username={both!r}), role='admin')",
    )
    theirs, chat = _sign_in(browser, app_url, both)
    expect(chat.get_by_role("link", name="Manage team")).to_have_count(0)  # a member in the active team
    chat.get_by_label("Team").select_option(label=f"Other {tag}")
    chat.get_by_role("button", name="Switch team").click()
    ready(chat)
    chat.get_by_role("link", name="Manage team").click()  # an admin there
    expect(chat.get_by_role("heading", name=f"Other {tag}: people")).to_be_visible()

    ours = browser.new_context(viewport={"width": 390, "height": 844})
    console = ours.new_page()
    console.goto(app_url + "/accounts/login/")
    console.get_by_label("Username").fill(owner)
    console.get_by_label("Password").fill(PASSWORD)
    console.get_by_role("button", name="Sign in").click()
    console.wait_for_url(app_url + "/")
    console.goto(app_url + "/manage/")
    console.get_by_role("button", name=f"Remove {both} from the team").click()
    expect(console.get_by_text(f"{both} is no longer in Team {tag}.")).to_be_visible()
    console.get_by_role("link", name="Audit log").click()
    console.get_by_label("Action").select_option(label="Removed from the team")
    console.get_by_role("button", name="Show").click()
    row = console.locator("[data-action='member.remove']")
    expect(row).to_contain_text(both)
    assert row.bounding_box()["width"] <= 390  # readable on the phone, no sideways scrolling
    theirs.close()
    ours.close()
