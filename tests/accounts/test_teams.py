"""Several teams, one active: a person in more than one picks the team they work in;
admins remove people from their team, and someone out of every team loses the chat."""

from __future__ import annotations

import pytest
from django.test import Client

from chat.sync import database
from tests.chat.test_sessions import SignedInTab, assert_ended
from webapp.accounts.models import AuditEvent, Membership, User

from .conftest import as_

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two_teams(team):
    """dave is also a member of carol's team."""
    team["dave_theirs"] = Membership.objects.create(team=team["carol"].team, user=team["dave"].user, role="member")
    return team


def active_team(membership: Membership) -> int | None:
    return User.objects.get(pk=membership.user_id).active_team_id


def test_someone_in_two_teams_switches_and_the_console_follows_the_active_one(two_teams):
    dave, ours, theirs = as_(two_teams["dave"]), two_teams["dave"].team, two_teams["carol"].team
    chat = dave.get("/").content.decode()
    assert 'id="team-switch"' in chat and "Theirs</option>" in chat and "Ours</option>" in chat
    assert b"Ours: people" in dave.get("/manage/").content

    switched = dave.post("/accounts/team/", {"team": theirs.pk, "next": "/accounts/profile/"}, follow=True)

    assert switched.redirect_chain[-1][0] == "/accounts/profile/"
    assert b"You are now working in Theirs." in switched.content
    assert active_team(two_teams["dave"]) == theirs.pk
    assert dave.get("/manage/").status_code == 404  # a member in Theirs
    assert b"Manage team" not in dave.get("/").content
    dave.post("/accounts/team/", {"team": ours.pk})
    assert b"Ours: people" in dave.get("/manage/").content


def test_one_cannot_switch_to_a_team_one_is_not_in(two_teams):
    bob, theirs = as_(two_teams["bob"]), two_teams["carol"].team
    for team_id in (theirs.pk, 999_999, "Theirs", ""):
        assert bob.post("/accounts/team/", {"team": team_id}).status_code == 404
    assert active_team(two_teams["bob"]) == two_teams["bob"].team_id
    stranger = Client().post("/accounts/team/", {"team": theirs.pk})
    assert stranger.status_code == 302 and stranger["Location"].startswith("/accounts/login/")
    assert bob.get("/accounts/team/").status_code == 405


def test_a_switch_never_sends_one_to_another_site(two_teams):
    response = as_(two_teams["dave"]).post(
        "/accounts/team/", {"team": two_teams["carol"].team_id, "next": "//evil.example/"}
    )
    assert response["Location"] == "/"


def test_the_switcher_shows_only_to_people_in_several_teams_and_the_profile_lists_their_teams(two_teams):
    assert b'id="team-switch"' not in as_(two_teams["bob"]).get("/").content
    profile = as_(two_teams["dave"]).get("/accounts/profile/").content.decode()
    assert "Ours <span" in profile and "Theirs <span" in profile and 'id="team-switch"' in profile


def test_an_admin_removes_someone_whose_active_team_moves_to_another_of_theirs(two_teams):
    ours, theirs = two_teams["alice"].team, two_teams["carol"].team
    done = as_(two_teams["alice"]).post(f"/manage/people/{two_teams['dave'].pk}/remove", follow=True)

    assert b"dave is no longer in Ours." in done.content
    assert not Membership.objects.filter(team=ours, user=two_teams["dave"].user).exists()
    assert active_team(two_teams["dave"]) == theirs.pk
    assert as_(two_teams["dave"]).get("/").status_code == 200  # still chats, in Theirs
    [event] = AuditEvent.objects.filter(action="member.remove")
    assert (event.team_id, event.actor_name, event.subject, event.details["role"]) == (
        ours.pk,
        "alice",
        "dave",
        "admin",
    )


async def test_someone_removed_from_their_only_team_loses_the_chat_at_once_and_is_told_why(team):
    bob_client = await database(as_)(team["bob"])
    tab = SignedInTab(team["bob"].user, bob_client)
    assert await tab.connect()

    admin = await database(as_)(team["dave"])
    await database(admin.post)(f"/manage/people/{team['bob'].pk}/remove")

    await assert_ended(tab)  # their open chat closes on every process
    for url in ("/", "/manage/", "/c/1/"):
        page = await database(bob_client.get)(url)
        assert page.status_code == 403 and b"You are not in a team" in page.content, url
        assert b"removed from the last team" in page.content
    assert (await database(bob_client.get)("/accounts/profile/")).status_code == 200  # their account stays theirs
    bob = await database(User.objects.get)(pk=team["bob"].user_id)
    assert bob.active_team_id is None and bob.teamless_since is not None and bob.is_active


@pytest.mark.parametrize(
    "who,target,words",
    [
        ("dave", "alice", "Only an owner can remove an owner."),
        ("alice", "alice", "You are the team&#x27;s last owner"),
    ],
)
def test_a_refused_removal_says_why_and_changes_nothing(team, who, target, words):
    response = as_(team[who]).post(f"/manage/people/{team[target].pk}/remove", follow=True)
    assert words.encode() in response.content
    assert Membership.objects.count() == 4 and not AuditEvent.objects.exists()


def test_an_owner_who_is_not_the_last_may_leave_and_lands_outside_the_console(team):
    owner = as_(team["alice"])
    owner.post(f"/manage/people/{team['dave'].pk}/role", {"role": "owner"})
    left = owner.post(f"/manage/people/{team['alice'].pk}/remove", follow=True)
    assert left.status_code == 403 and b"You are not in a team" in left.content  # her only team
    assert not Membership.objects.filter(user=team["alice"].user).exists()
    assert Membership.objects.get(pk=team["dave"].pk).role == "owner"


def test_removal_is_for_the_teams_admins_only(team):
    url = f"/manage/people/{team['bob'].pk}/remove"
    stranger = Client().post(url)
    assert stranger.status_code == 302 and stranger["Location"].startswith("/accounts/login/")
    assert as_(team["bob"]).post(url).status_code == 404
    assert as_(team["carol"]).post(url).status_code == 404
    assert as_(team["dave"]).get(url).status_code == 405
    assert Membership.objects.filter(pk=team["bob"].pk).exists()
    assert as_(team["dave"]).post(url).status_code == 302
    assert not Membership.objects.filter(pk=team["bob"].pk).exists()
