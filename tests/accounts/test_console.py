"""The team console at /manage/: only the team's owners and admins see it, and a team
always keeps an active owner."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client

from chat.sync import database
from tests.chat.test_sessions import SignedInTab, assert_ended
from webapp.accounts.models import Membership, Team

from .conftest import PASSWORD, as_

pytestmark = [pytest.mark.django_db(transaction=True)]


def urls(cast) -> list[tuple[str, str, dict]]:
    bob = cast["bob"].pk
    return [
        ("get", "/manage/", {}),
        ("post", f"/manage/people/{bob}/role", {"role": "admin"}),
        ("post", f"/manage/people/{bob}/deactivate", {}),
        ("post", f"/manage/people/{bob}/reactivate", {}),
    ]


def test_a_stranger_is_sent_to_sign_in_a_member_finds_nothing_and_another_team_never_sees_ours(team):
    for method, url, data in urls(team):
        stranger = getattr(as_(None), method)(url, data)
        assert stranger.status_code == 302 and stranger["Location"].startswith("/accounts/login/"), url
        member = getattr(as_(team["bob"]), method)(url, data)
        assert member.status_code == 404, url
        other_team = getattr(as_(team["carol"]), method)(url, data)  # carol's console is her own team's
        assert other_team.status_code == (200 if method == "get" else 404), url
        assert b"bob" not in other_team.content
    bob = Membership.objects.select_related("user").get(pk=team["bob"].pk)
    assert bob.role == "member" and bob.user.is_active  # nothing changed


def test_an_admin_sees_the_team_and_changes_a_role(team):
    admin = as_(team["dave"])
    page = admin.get("/manage/")
    assert page.status_code == 200
    for name in (b"alice", b"dave", b"bob"):
        assert name in page.content
    assert b"carol" not in page.content  # another team's

    done = admin.post(f"/manage/people/{team['bob'].pk}/role", {"role": "admin"}, follow=True)

    assert b"bob is now admin." in done.content
    assert Membership.objects.get(pk=team["bob"].pk).role == "admin"


@pytest.mark.parametrize(
    "who,target,role,words",
    [
        ("dave", "bob", "owner", "Only an owner can make or unmake an owner."),
        ("dave", "alice", "member", "Only an owner can make or unmake an owner."),
        ("alice", "alice", "admin", "A team needs an owner"),
        ("alice", "bob", "emperor", "Choose owner, admin or member."),
    ],
)
def test_a_refused_role_change_says_why_and_changes_nothing(team, who, target, role, words):
    before = {m.pk: m.role for m in Membership.objects.all()}
    response = as_(team[who]).post(f"/manage/people/{team[target].pk}/role", {"role": role}, follow=True)
    assert words.encode() in response.content
    assert {m.pk: m.role for m in Membership.objects.all()} == before


def test_the_last_owner_can_hand_over_and_then_step_down(team):
    owner = as_(team["alice"])
    owner.post(f"/manage/people/{team['dave'].pk}/role", {"role": "owner"})
    owner.post(f"/manage/people/{team['alice'].pk}/role", {"role": "admin"})
    assert {m.user.username: m.role for m in Membership.objects.filter(team=team["alice"].team)} == {
        "alice": "admin",
        "dave": "owner",
        "bob": "member",
    }


@pytest.mark.parametrize(
    "who,target,words",
    [
        ("alice", "alice", "You cannot deactivate yourself."),
        ("dave", "alice", "Only an owner can deactivate an owner."),
    ],
)
def test_a_refused_deactivation_says_why_and_changes_nothing(team, who, target, words):
    response = as_(team[who]).post(f"/manage/people/{team[target].pk}/deactivate", follow=True)
    assert words.encode() in response.content
    assert all(m.user.is_active for m in Membership.objects.select_related("user"))


async def test_deactivating_someone_signs_them_out_at_once_and_reactivating_lets_them_back(team):
    bob_client = await database(as_)(team["bob"])
    tab = SignedInTab(team["bob"].user, bob_client)
    assert await tab.connect()
    admin = await database(as_)(team["dave"])

    done = await database(admin.post)(f"/manage/people/{team['bob'].pk}/deactivate", follow=True)

    assert b"bob is deactivated and signed out everywhere." in done.content
    await assert_ended(tab)
    assert (await database(bob_client.get)("/")).status_code == 302
    signing_in = await database(Client().post)("/accounts/login/", {"username": "bob", "password": PASSWORD})
    assert signing_in.status_code != 302  # refused

    await database(admin.post)(f"/manage/people/{team['bob'].pk}/reactivate")
    again = await database(Client().post)("/accounts/login/", {"username": "bob", "password": PASSWORD})
    assert again.status_code == 302


def test_another_teams_person_is_not_found_in_our_console(team):
    owner = as_(team["alice"])
    carol_id = team["carol"].pk
    assert owner.post(f"/manage/people/{carol_id}/role", {"role": "member"}).status_code == 404
    assert owner.post(f"/manage/people/{carol_id}/deactivate").status_code == 404
    carol = Membership.objects.select_related("user").get(pk=team["carol"].pk)
    assert carol.role == "owner" and carol.user.is_active


def test_the_chat_links_the_console_for_those_who_run_the_team_only(team):
    assert b'href="/manage/"' in as_(team["dave"]).get("/").content
    assert b'href="/manage/"' not in as_(team["bob"]).get("/").content


def test_the_first_admin_owns_the_first_team(django_user_model):
    call_command("ensure_admin", "--no-input", stdout=open("/dev/null", "w"))
    admin = django_user_model.objects.get(username="admin")
    membership = Membership.objects.get(user=admin)
    assert membership.role == "owner" and admin.active_team_id == membership.team_id
    assert as_(membership).get("/manage/").status_code == 200


def test_an_install_from_before_teams_gets_one_team_its_superusers_own(django_user_model):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("accounts", "0003_profile")], [("accounts", "0004_teams")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("accounts", "User").objects
    old.create(username="root", is_superuser=True, is_staff=True)
    old.create(username="staff", is_staff=True)
    old.create(username="plain")
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())  # and on to today's schema for the tests after

    [team] = Team.objects.all()
    roles = {m.user.username: m.role for m in Membership.objects.select_related("user")}
    assert roles == {"root": "owner", "staff": "admin", "plain": "member"}
    assert set(django_user_model.objects.values_list("active_team", flat=True)) == {team.pk}
