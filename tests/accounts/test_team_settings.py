"""The team's settings at /manage/team/: its name, open sign-up and members' own keys,
set by its owners and admins only, each change in the audit log."""

from __future__ import annotations

import pytest
from django.test import Client

from webapp.accounts.models import AuditEvent, Team

from .conftest import as_

pytestmark = [pytest.mark.django_db(transaction=True)]


def settings_of(team: Team) -> tuple:
    team.refresh_from_db()
    return team.name, team.open_signup, team.personal_keys_allowed


def test_an_admin_renames_the_team_and_opens_sign_up_and_each_change_is_logged(team):
    ours, admin = team["alice"].team, as_(team["dave"])
    page = admin.get("/manage/team/")
    assert page.status_code == 200 and b'value="Ours"' in page.content

    done = admin.post("/manage/team/", {"name": " Our  crew ", "open_signup": "on", "personal_keys_allowed": "on"})

    assert done.status_code == 302
    assert settings_of(ours) == ("Our crew", True, True)
    assert b"The team&#x27;s settings are saved." in admin.get("/manage/team/").content
    assert [(e.actor_name, e.action, e.details) for e in AuditEvent.objects.order_by("pk")] == [
        ("dave", "team.rename", {"from": "Ours", "to": "Our crew"}),
        ("dave", "team.signup", {"open": True}),
        ("dave", "team.personal_keys", {"allowed": True}),
    ]
    admin.post("/manage/team/", {"name": "Our crew"})  # both boxes unticked
    assert settings_of(ours) == ("Our crew", False, False)
    assert AuditEvent.objects.count() == 5


@pytest.mark.parametrize(
    "name,words",
    [("   ", "A team needs a name."), ("x" * 101, "at most 100 characters"), ("a\x00b", "cannot be stored")],
)
def test_a_bad_name_says_why_and_changes_nothing(team, name, words):
    ours = team["alice"].team
    response = as_(team["alice"]).post("/manage/team/", {"name": name, "open_signup": "on"})
    assert response.status_code == 400 and words.encode() in response.content
    assert settings_of(ours) == ("Ours", False, False) and not AuditEvent.objects.exists()


def test_the_settings_are_for_the_teams_admins_only(team):
    ours, theirs = team["alice"].team, team["carol"].team
    change = {"name": "Hijacked", "open_signup": "on"}
    for method in ("get", "post"):
        stranger = getattr(Client(), method)("/manage/team/", change)
        assert stranger.status_code == 302 and stranger["Location"].startswith("/accounts/login/")
        assert getattr(as_(team["bob"]), method)("/manage/team/", change).status_code == 404
    carols = as_(team["carol"]).get("/manage/team/")  # her console is her own team's
    assert b"Ours" not in carols.content and b"Theirs" in carols.content
    as_(team["carol"]).post("/manage/team/", change)
    assert settings_of(ours) == ("Ours", False, False)
    assert settings_of(theirs) == ("Hijacked", True, False)
