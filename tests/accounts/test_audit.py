"""The audit log: every admin action on a team leaves one event saying who did what to
whom, readable and filterable by that team's owners and admins only, never a secret."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from webapp.accounts.audit import audit_record
from webapp.accounts.models import AuditEvent, Invitation

from .conftest import as_

pytestmark = [pytest.mark.django_db(transaction=True)]

NEW = "a long enough passphrase"


def events(team) -> list[tuple[str, str, str]]:
    return [(e.actor_name, e.action, e.subject) for e in AuditEvent.objects.filter(team=team).order_by("pk")]


def test_each_change_to_people_leaves_one_event_with_who_and_to_whom(team):
    ours, dave, bob = team["alice"].team, as_(team["dave"]), team["bob"].pk
    dave.post(f"/manage/people/{bob}/role", {"role": "admin"})
    dave.post(f"/manage/people/{bob}/role", {"role": "admin"})  # no change, no event
    dave.post(f"/manage/people/{bob}/deactivate")
    dave.post(f"/manage/people/{bob}/reactivate")
    dave.post(f"/manage/people/{team['alice'].pk}/role", {"role": "member"})  # refused: no event

    assert events(ours) == [
        ("dave", "member.role", "bob"),
        ("dave", "member.deactivate", "bob"),
        ("dave", "member.reactivate", "bob"),
    ]
    assert AuditEvent.objects.get(action="member.role").details == {"from": "member", "to": "admin"}
    assert not AuditEvent.objects.filter(team=team["carol"].team).exists()


def test_an_invitation_made_withdrawn_and_accepted_is_logged_without_its_token(team):
    ours, dave = team["alice"].team, as_(team["dave"])
    dave.post("/manage/invitations/", {"role": "admin", "email": "erin@example.com"})
    dave.post("/manage/invitations/", {"role": "member"})
    used, withdrawn = Invitation.objects.order_by("pk")
    dave.post(f"/manage/invitations/{withdrawn.pk}/revoke")
    dave.post(f"/manage/invitations/{withdrawn.pk}/revoke")  # not open any more: no second event
    Client().post(f"/invite/{used.token}/", {"username": "erin", "password1": NEW, "password2": NEW})

    assert events(ours) == [
        ("dave", "invitation.create", "erin@example.com"),
        ("dave", "invitation.create", "anyone with the link"),
        ("dave", "invitation.revoke", "anyone with the link"),
        ("erin", "invitation.accept", "erin"),
    ]
    assert AuditEvent.objects.filter(action="invitation.accept").get().details["role"] == "admin"
    stored = json.dumps([[e.subject, e.details] for e in AuditEvent.objects.all()])
    page = dave.get("/manage/audit/").content.decode()
    for token in (used.token, withdrawn.token):
        assert token not in stored and token not in page
    assert NEW not in stored


def test_details_naming_a_secret_are_refused(team):
    with pytest.raises(ValueError):
        audit_record(team=team["alice"].team, actor=team["alice"], action="key.add", details={"api_key": "xai-1"})
    assert not AuditEvent.objects.exists()


def test_the_log_is_for_the_teams_admins_only(team):
    audit_record(team=team["alice"].team, actor=team["alice"], action="member.role", subject="bob")
    stranger = Client().get("/manage/audit/")
    assert stranger.status_code == 302 and stranger["Location"].startswith("/accounts/login/")
    assert as_(team["bob"]).get("/manage/audit/").status_code == 404
    theirs = as_(team["carol"]).get("/manage/audit/")  # carol's log is her own team's: empty
    assert theirs.status_code == 200 and b"member.role" not in theirs.content
    ours = as_(team["dave"]).get("/manage/audit/")
    assert ours.status_code == 200 and b'data-action="member.role"' in ours.content


def test_the_log_is_newest_first_fifty_a_page_and_filters_by_action_person_and_day(team):
    ours = team["alice"].team
    for n in range(55):
        audit_record(team=ours, actor=team["alice"], action="invitation.create", subject=f"person{n}@example.com")
    audit_record(team=ours, actor=team["dave"], action="member.role", subject="bob")
    old = audit_record(team=ours, actor=team["dave"], action="member.deactivate", subject="bob")
    AuditEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    admin = as_(team["dave"])

    first = admin.get("/manage/audit/").content.decode()
    assert first.count("<tr data-action") == 50
    assert first.index("member.role") < first.index("person54@") < first.index("person10@")
    assert "Page 1 of 2" in first and "member.deactivate" not in first.split("<table")[1]
    second = admin.get("/manage/audit/?page=2").content.decode()
    assert second.count("<tr data-action") == 7 and 'data-action="member.deactivate"' in second

    by_action = admin.get("/manage/audit/", {"action": "member.role"}).content.decode()
    assert by_action.count("<tr data-action") == 1
    by_person = admin.get("/manage/audit/", {"actor": team["dave"].user.pk}).content.decode()
    assert by_person.count("<tr data-action") == 2 and "person1@" not in by_person
    today = timezone.now().date()
    recent = admin.get("/manage/audit/", {"since": str(today - timedelta(days=1))}).content.decode()
    assert recent.count("<tr data-action") == 50 and "Page 1 of 2" in recent
    long_ago = admin.get("/manage/audit/", {"until": str(today - timedelta(days=5))}).content.decode()
    assert long_ago.count("<tr data-action") == 1 and 'data-action="member.deactivate"' in long_ago
    filtered_next = admin.get("/manage/audit/", {"actor": team["alice"].user.pk, "page": 2}).content.decode()
    assert filtered_next.count("<tr data-action") == 5 and "actor=" in filtered_next


@pytest.mark.parametrize(
    "query,words",
    [
        ({"since": "yesterday"}, b"Enter a valid date."),
        ({"since": "2026-03-02", "until": "2026-03-01"}, b"The first day comes after the last one."),
        ({"action": "key.steal"}, b"Select a valid choice."),
    ],
)
def test_a_bad_filter_says_why(team, query, words):
    audit_record(team=team["alice"].team, actor=team["alice"], action="member.role", subject="bob")
    response = as_(team["dave"]).get("/manage/audit/", query)
    assert response.status_code == 400 and words in response.content
    assert b"<tr data-action" not in response.content
