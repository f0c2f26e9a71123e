"""Standing instructions: the team's (its admins set them) and a person's own, joined for
the model with the team's first; each bounded in length."""

from __future__ import annotations

import pytest
from django.test import override_settings

from webapp.accounts.instructions import instructions_for
from webapp.accounts.models import AuditEvent, Team, User

from .conftest import as_

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_the_model_gets_the_teams_instructions_then_the_persons_each_under_its_heading():
    team, person = Team(name="Ours", instructions="Answer in British English."), User(instructions="I am a chemist.")
    joined = instructions_for(person, team)
    assert joined == (
        "## Instructions from the team\n\nAnswer in British English.\n\n"
        "## Instructions from the person you are talking with\n\nI am a chemist."
    )
    assert instructions_for(User(instructions="I am a chemist."), Team(instructions="  \n")) == (
        "## Instructions from the person you are talking with\n\nI am a chemist."
    )
    assert instructions_for(User(), team) == "## Instructions from the team\n\nAnswer in British English."
    assert instructions_for(User(instructions="Be brief."), None).endswith("Be brief.")
    assert instructions_for(User(), Team()) is None


def test_a_person_sets_custom_instructions_on_their_account_page_and_they_are_not_audited(team):
    bob = as_(team["bob"])
    assert b"Custom instructions" in bob.get("/accounts/profile/").content
    done = bob.post(
        "/accounts/profile/instructions/", {"instructions": "  I am a chemist.\r\nBe brief.  "}, follow=True
    )
    assert b"Your custom instructions are saved." in done.content
    assert User.objects.get(pk=team["bob"].user_id).instructions == "I am a chemist.\nBe brief."
    bob.post("/accounts/profile/instructions/", {"instructions": ""})
    assert User.objects.get(pk=team["bob"].user_id).instructions == ""
    assert not AuditEvent.objects.exists()


@override_settings(INSTRUCTIONS_MAX_CHARS=20)
def test_instructions_beyond_the_limit_are_refused_and_change_nothing(team):
    bob = as_(team["bob"])
    bob.post("/accounts/profile/instructions/", {"instructions": "Be brief."})
    refused = bob.post("/accounts/profile/instructions/", {"instructions": "x" * 21})
    assert refused.status_code == 400 and b"at most 20 characters; these are 21." in refused.content
    assert User.objects.get(pk=team["bob"].user_id).instructions == "Be brief."
    # A line break counts once, as the browser counts it, though it arrives as CRLF.
    fits = bob.post("/accounts/profile/instructions/", {"instructions": "line\r\n" * 3 + "end12"})
    assert fits.status_code == 302

    admin, ours = as_(team["dave"]), team["dave"].team
    too_long = admin.post("/manage/team/", {"name": "Renamed", "instructions": "y" * 21})
    assert too_long.status_code == 400 and b"at most 20 characters" in too_long.content
    ours.refresh_from_db()
    assert (ours.name, ours.instructions) == ("Ours", "") and not AuditEvent.objects.exists()


def test_an_admin_sets_the_team_instructions_and_the_change_is_audited_by_length(team):
    admin, ours = as_(team["dave"]), team["dave"].team
    admin.post("/manage/team/", {"name": "Ours", "instructions": "Answer in British English."})
    ours.refresh_from_db()
    assert ours.instructions == "Answer in British English."
    assert b"Answer in British English." in admin.get("/manage/team/").content
    [event] = AuditEvent.objects.all()
    assert (event.actor_name, event.action, event.details) == ("dave", "team.instructions", {"characters": 26})
    admin.post("/manage/team/", {"name": "Ours", "instructions": "Answer in British English."})
    assert AuditEvent.objects.count() == 1  # unchanged: nothing to log


def test_bad_characters_in_instructions_are_refused(team):
    refused = as_(team["bob"]).post("/accounts/profile/instructions/", {"instructions": "a\x00b"})
    assert refused.status_code == 400 and b"cannot be stored" in refused.content
