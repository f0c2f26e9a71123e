"""The cast of the account tests: a team with an owner, an admin and a member, and another team."""

from __future__ import annotations

import pytest
from django.test import Client

from webapp.accounts.models import Membership, Team

PASSWORD = "correct horse battery"


@pytest.fixture
def team(django_user_model):
    """alice owns it, dave is an admin, bob a member; carol owns another team."""
    ours, theirs = Team.objects.create(name="Ours"), Team.objects.create(name="Theirs")
    cast = {}
    for name, team, role in (
        ("alice", ours, "owner"),
        ("dave", ours, "admin"),
        ("bob", ours, "member"),
        ("carol", theirs, "owner"),
    ):
        user = django_user_model.objects.create_user(name, password=PASSWORD, active_team=team)
        cast[name] = Membership.objects.create(team=team, user=user, role=role)
    return cast


def as_(membership: Membership | None) -> Client:
    client = Client()
    if membership is not None:
        client.force_login(membership.user)
    return client
