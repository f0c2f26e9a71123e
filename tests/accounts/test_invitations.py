"""Invitations: made by the team's owners and admins, used once, before they expire."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from webapp.accounts.models import Invitation, Membership, User

from .conftest import as_

pytestmark = [pytest.mark.django_db(transaction=True)]

NEW = "a long enough passphrase"


def invite(client: Client, role: str = "member", email: str = "") -> Invitation:
    response = client.post("/manage/invitations/", {"role": role, "email": email}, follow=True)
    assert b"Invitation made" in response.content, response.content
    return Invitation.objects.latest("created_at")


def join(token: str, username: str = "erin", password: str = NEW, again: str | None = None, client=None):
    client = client or Client()
    return client, client.post(
        f"/invite/{token}/", {"username": username, "password1": password, "password2": again or password}
    )


def test_an_admin_invites_and_the_invitee_joins_signed_in_with_the_role(team):
    admin = as_(team["dave"])
    invitation = invite(admin, "admin")
    page = admin.get("/manage/invitations/")
    assert f"/invite/{invitation.token}/".encode() in page.content  # the link can be copied

    opened = Client().get(f"/invite/{invitation.token}/")
    assert opened.status_code == 200 and b"Join <strong>Ours</strong> as admin" in opened.content
    client, joined = join(invitation.token)

    assert joined.status_code == 302 and joined["Location"] == "/"
    erin = User.objects.get(username="erin")
    assert erin.check_password(NEW) and erin.active_team_id == team["dave"].team_id
    assert Membership.objects.get(user=erin).role == "admin"
    assert client.get("/").status_code == 200  # signed in
    assert b"erin" in admin.get("/manage/").content
    assert len(invitation.token) >= 43  # 32 random bytes, URL-safe


def test_an_invitation_with_an_address_is_mailed_and_binds_it(team):
    invitation = invite(as_(team["alice"]), email="erin@example.com")
    [message] = mail.outbox
    assert message.to == ["erin@example.com"] and f"/invite/{invitation.token}/" in message.body
    join(invitation.token)
    assert User.objects.get(username="erin").email == "erin@example.com"


def test_a_link_works_once(team):
    invitation = invite(as_(team["dave"]))
    join(invitation.token, "erin")
    _, again = join(invitation.token, "frank")
    assert again.status_code == 410 and b"has been used" in again.content
    assert not User.objects.filter(username="frank").exists()


def test_an_expired_or_withdrawn_link_says_so_and_an_unknown_one_does_not_exist(team):
    admin = as_(team["dave"])
    expired, withdrawn = invite(admin), invite(admin)
    Invitation.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    admin.post(f"/manage/invitations/{withdrawn.pk}/revoke")
    for invitation, words in ((expired, b"has expired"), (withdrawn, b"was withdrawn")):
        assert Client().get(f"/invite/{invitation.token}/").status_code == 410
        _, response = join(invitation.token)
        assert response.status_code == 410 and words in response.content
    assert Client().get("/invite/not-a-token/").status_code == 404
    assert not User.objects.filter(username="erin").exists()


@pytest.mark.parametrize(
    "username,password,again,words",
    [
        ("bob", NEW, None, b"That username is taken"),
        ("BOB", NEW, None, b"That username is taken"),
        ("", NEW, None, b"Choose a username."),
        ("no spaces please", NEW, None, b"Enter a valid username"),
        ("erin", "short", None, b"too short"),
        ("erinexplorer", "erinexplorer1", None, b"too similar"),
        ("erin", NEW, NEW + "!", b"The two passwords differ."),
    ],
)
def test_a_join_that_is_refused_says_why_and_leaves_the_link_usable(team, username, password, again, words):
    invitation = invite(as_(team["dave"]))
    users = User.objects.count()
    _, response = join(invitation.token, username, password, again)
    assert response.status_code == 400 and words in response.content
    assert User.objects.count() == users
    _, joined = join(invitation.token, "erin")
    assert joined.status_code == 302


def test_only_the_teams_owners_and_admins_invite_and_only_owners_invite_owners(team):
    assert as_(team["bob"]).post("/manage/invitations/", {"role": "member"}).status_code == 404
    assert Client().post("/manage/invitations/", {"role": "member"}).status_code == 302
    refused = as_(team["dave"]).post("/manage/invitations/", {"role": "owner"}, follow=True)
    assert b"Only an owner can invite an owner." in refused.content
    bad = as_(team["dave"]).post("/manage/invitations/", {"role": "member", "email": "not an address"}, follow=True)
    assert b"does not look right" in bad.content
    assert not Invitation.objects.exists()
    theirs = invite(as_(team["carol"]))  # another team's invitation is not ours to withdraw
    assert as_(team["dave"]).post(f"/manage/invitations/{theirs.pk}/revoke", follow=True).status_code == 200
    assert Invitation.objects.get(pk=theirs.pk).revoked_at is None


def test_someone_signed_in_is_asked_to_sign_out_before_joining(team):
    invitation = invite(as_(team["dave"]))
    page = as_(team["bob"]).get(f"/invite/{invitation.token}/")
    assert b"sign out first" in page.content
    _, joined = join(invitation.token, client=as_(team["bob"]))
    assert joined.status_code == 200 and not User.objects.filter(username="erin").exists()
