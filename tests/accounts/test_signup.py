"""Open sign-up: off unless a team's admins turn it on; then anyone can make an account
that is a member of that team, within a per-address limit."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client, override_settings

from webapp.accounts.models import AuditEvent, Membership, Team, User
from webapp.accounts.signup import _key

from .conftest import as_

pytestmark = [pytest.mark.django_db(transaction=True)]

NEW = "a long enough passphrase"


@pytest.fixture(autouse=True)
def fresh_count():
    cache.delete(_key("127.0.0.1"))
    yield
    cache.delete(_key("127.0.0.1"))


def open_signup(team: Team) -> Team:
    Team.objects.filter(pk=team.pk).update(open_signup=True)
    return team


def sign_up(team_id: int, username="erin", password=NEW, again=None, display_name="", client=None):
    client = client or Client()
    data = {"username": username, "password1": password, "password2": again or password, "display_name": display_name}
    return client, client.post(f"/accounts/signup/{team_id}/", data)


def test_sign_up_is_off_by_default_and_a_closed_team_has_no_sign_up_page(team):
    ours = team["alice"].team
    assert b"Create an account" not in Client().get("/accounts/login/").content
    assert Client().get(f"/accounts/signup/{ours.pk}/").status_code == 404
    _, response = sign_up(ours.pk)
    assert response.status_code == 404
    assert not User.objects.filter(username="erin").exists()
    assert Client().get("/accounts/signup/999999/").status_code == 404


def test_with_sign_up_on_a_newcomer_becomes_a_signed_in_member_of_that_team(team):
    ours = open_signup(team["alice"].team)
    login = Client().get("/accounts/login/").content.decode()
    assert f'href="/accounts/signup/{ours.pk}/">Create an account</a> in Ours' in login

    client, response = sign_up(ours.pk, display_name="Erin  Explorer")

    assert response.status_code == 302 and response["Location"] == "/"
    erin = User.objects.get(username="erin")
    assert erin.check_password(NEW) and erin.display_name == "Erin Explorer" and erin.active_team_id == ours.pk
    assert Membership.objects.get(user=erin).role == "member"
    assert client.get("/").status_code == 200  # signed in
    assert client.get("/manage/").status_code == 404  # a member, not an admin
    event = AuditEvent.objects.get(action="member.signup")
    assert (event.team_id, event.actor_name, event.subject) == (ours.pk, "erin", "erin")


def test_with_several_teams_open_the_sign_in_page_names_each(team):
    ours, theirs = open_signup(team["alice"].team), open_signup(team["carol"].team)
    login = Client().get("/accounts/login/").content.decode()
    assert f'href="/accounts/signup/{ours.pk}/" aria-label="Create an account in Ours"' in login
    assert f'href="/accounts/signup/{theirs.pk}/" aria-label="Create an account in Theirs"' in login
    sign_up(theirs.pk)
    assert Membership.objects.get(user__username="erin").team_id == theirs.pk


@pytest.mark.parametrize(
    "username,password,again,words",
    [
        ("erin", "short", None, b"too short"),
        ("erin", "password123", None, b"too common"),
        ("erinexplorer", "erinexplorer1", None, b"too similar"),
        ("erin", NEW, NEW + "!", b"The two passwords differ."),
        ("bob", NEW, None, b"That username is taken"),
        ("", NEW, None, b"Choose a username."),
        ("no spaces please", NEW, None, b"Enter a valid username"),
    ],
)
def test_a_refused_sign_up_says_why_and_makes_nothing(team, username, password, again, words):
    ours = open_signup(team["alice"].team)
    users, memberships = User.objects.count(), Membership.objects.count()
    client, response = sign_up(ours.pk, username, password, again)
    assert response.status_code == 400 and words in response.content
    assert (User.objects.count(), Membership.objects.count()) == (users, memberships)
    assert not AuditEvent.objects.exists()
    assert client.get("/").status_code == 302  # not signed in


def test_a_display_name_too_long_is_refused(team):
    ours = open_signup(team["alice"].team)
    _, response = sign_up(ours.pk, display_name="x" * 101)
    assert response.status_code == 400 and b"at most 100 characters" in response.content
    assert not User.objects.filter(username="erin").exists()


def test_someone_signed_in_is_asked_to_sign_out_first(team):
    ours = open_signup(team["alice"].team)
    bob = as_(team["bob"])
    assert b"sign out first" in bob.get(f"/accounts/signup/{ours.pk}/").content
    _, response = sign_up(ours.pk, client=bob)
    assert response.status_code == 200 and not User.objects.filter(username="erin").exists()


@override_settings(SIGNUP_ADDRESS_LIMIT=3)
def test_sign_up_attempts_are_limited_per_address(team):
    ours = open_signup(team["alice"].team)
    for _ in range(3):
        sign_up(ours.pk, password="short")
    _, refused = sign_up(ours.pk)
    assert refused.status_code == 429 and b"Too many sign-up attempts" in refused.content
    assert not User.objects.filter(username="erin").exists()
