"""Teams and who runs them: the first team, a person's teams and the active one, a
person's role, deactivation and removal.

The last owner of a team stays an owner, stays active and stays in it: a team is never
left with nobody who can run it. Deactivating a person ends their sessions and open
websockets on every web process (through the post_save signal chat listens to); so does
removing them from their only team, since the chat is closed to someone in no team.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .audit import audit_record
from .instructions import instructions_clean
from .models import TEAM_NAME_MAX, Membership, Team, User
from .text import storable


class TeamError(Exception):
    """A change to a team that is refused; nothing changed. ``message`` says why, in words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotInTeam(TeamError):
    """The membership asked about is not one of the acting team's (to its console: 404)."""


def team_create_first(*, owner: User, name: str = "Team") -> Team:
    """The single-machine mode's team, owned by its first admin."""
    with transaction.atomic():
        team = Team.objects.create(name=name)
        Membership.objects.create(team=team, user=owner, role=Membership.Role.OWNER)
        owner.active_team = team
        owner.save(update_fields=["active_team"])
    return team


def membership_running(user: User) -> Membership | None:
    """The person's membership of their active team if they run it (owner or admin), else None."""
    if not user.is_authenticated or not user.is_active or user.active_team_id is None:
        return None
    return (
        Membership.objects.select_related("team")
        .filter(user=user, team_id=user.active_team_id, role__in=Membership.RUNS_THE_TEAM)
        .first()
    )


def teams_of(user: User) -> list[Membership]:
    """The person's memberships, with their teams, by team name."""
    if not user.is_authenticated:
        return []
    return list(Membership.objects.filter(user=user).select_related("team").order_by("team__name", "team_id"))


def team_switch(*, user: User, team_id: int) -> Team:
    """Make one of the person's teams the active one: the team their console and models are
    those of. NotInTeam unless they are an active person with a membership of it."""
    with transaction.atomic():
        membership = Membership.objects.select_related("team").filter(user=user, team_id=team_id).first()
        if membership is None or not user.is_active:
            raise NotInTeam("You are not in that team.")
        user.active_team, user.teamless_since = membership.team, None
        user.save(update_fields=["active_team", "teamless_since"])
    return membership.team


def team_people(team: Team) -> list[Membership]:
    return list(Membership.objects.filter(team=team).select_related("user").order_by("user__username"))


def _member(actor: Membership, membership_id: int) -> Membership:
    try:
        return Membership.objects.select_for_update().select_related("user").get(pk=membership_id, team=actor.team)
    except Membership.DoesNotExist:
        raise NotInTeam("That person is not in this team.") from None


def _owners_left(team: Team, *, without: Membership) -> bool:
    return (
        Membership.objects.filter(team=team, role=Membership.Role.OWNER, user__is_active=True)
        .exclude(pk=without.pk)
        .exists()
    )


def member_role_change(*, actor: Membership, membership_id: int, role: str) -> Membership:
    if role not in Membership.Role.values:
        raise TeamError("Choose owner, admin or member.")
    with transaction.atomic():
        member = _member(actor, membership_id)
        if Membership.Role.OWNER in (role, member.role) and actor.role != Membership.Role.OWNER:
            raise TeamError("Only an owner can make or unmake an owner.")
        demoted = member.role == Membership.Role.OWNER and role != member.role
        if demoted and not _owners_left(actor.team, without=member):
            raise TeamError("A team needs an owner: make someone else an owner first.")
        before, member.role = member.role, role
        member.save(update_fields=["role"])
        if before != role:
            audit_record(
                team=actor.team,
                actor=actor,
                action="member.role",
                subject=member.user.username,
                details={"from": before, "to": role},
            )
    return member


def member_set_active(*, actor: Membership, membership_id: int, active: bool) -> Membership:
    """Deactivate (or reactivate) a person: a deactivated person cannot sign in, and every
    session and open chat of theirs ends at once."""
    with transaction.atomic():
        member = _member(actor, membership_id)
        if member.user_id == actor.user_id:
            raise TeamError("You cannot deactivate yourself.")
        if member.role == Membership.Role.OWNER and actor.role != Membership.Role.OWNER:
            raise TeamError("Only an owner can deactivate an owner.")
        if not active and member.role == Membership.Role.OWNER and not _owners_left(actor.team, without=member):
            raise TeamError("A team needs an active owner: make someone else an owner first.")
        if Membership.objects.filter(user_id=member.user_id).exclude(team=actor.team).exists():
            raise TeamError("That person is in other teams too; only all their teams together can deactivate them.")
        if member.user.is_active != active:
            member.user.is_active = active
            member.user.save(update_fields=["is_active"])
            audit_record(
                team=actor.team,
                actor=actor,
                action="member.reactivate" if active else "member.deactivate",
                subject=member.user.username,
            )
    return member


def member_remove(*, actor: Membership, membership_id: int) -> Membership:
    """Take a person out of the actor's team (the actor themselves included: leaving). Their
    active team moves to another of theirs; out of their last one, the chat closes to them."""
    with transaction.atomic():
        member = _member(actor, membership_id)
        if member.role == Membership.Role.OWNER and actor.role != Membership.Role.OWNER:
            raise TeamError("Only an owner can remove an owner.")
        if member.role == Membership.Role.OWNER and not _owners_left(actor.team, without=member):
            if member.user_id == actor.user_id:
                raise TeamError("You are the team's last owner: make someone else an owner before you leave.")
            raise TeamError("A team needs an active owner: make someone else an owner first.")
        member.delete()
        user = member.user
        if user.active_team_id == actor.team_id:
            other = Membership.objects.filter(user=user).order_by("created_at", "pk").first()
            user.active_team_id = other.team_id if other else None
            user.teamless_since = None if other else timezone.now()
            user.save(update_fields=["active_team", "teamless_since"])
        elif not Membership.objects.filter(user=user).exists():
            user.teamless_since = timezone.now()
            user.save(update_fields=["teamless_since"])
        audit_record(
            team=actor.team,
            actor=actor,
            action="member.remove",
            subject=user.username,
            details={
                "role": member.role,
                **({"left": "of their own accord"} if member.user_id == actor.user_id else {}),
            },
        )
    return member


def team_settings_change(
    *, actor: Membership, name: str, open_signup: bool, personal_keys_allowed: bool, instructions: str
) -> Team:
    """Rename the team, set what it allows and its instructions; each change is one audit
    event (instructions by their length, not their text). TeamError, and nothing changed,
    for a name or instructions that are refused."""
    name = " ".join(name.split())
    if not name:
        raise TeamError("A team needs a name.")
    if len(name) > TEAM_NAME_MAX:
        raise TeamError(f"A team's name can be at most {TEAM_NAME_MAX} characters.")
    if not storable(name):
        raise TeamError("That name holds characters that cannot be stored.")
    try:
        instructions = instructions_clean(instructions)
    except ValidationError as error:
        raise TeamError(error.messages[0]) from None
    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=actor.team_id)
        changes = []
        if team.name != name:
            changes.append(("team.rename", {"from": team.name, "to": name}))
        if team.open_signup != open_signup:
            changes.append(("team.signup", {"open": open_signup}))
        if team.personal_keys_allowed != personal_keys_allowed:
            changes.append(("team.personal_keys", {"allowed": personal_keys_allowed}))
        if team.instructions != instructions:
            changes.append(("team.instructions", {"characters": len(instructions)}))
        team.name, team.open_signup, team.personal_keys_allowed = name, open_signup, personal_keys_allowed
        team.instructions = instructions
        team.save(update_fields=["name", "open_signup", "personal_keys_allowed", "instructions"])
        for action, details in changes:
            audit_record(team=team, actor=actor, action=action, subject=team.name, details=details)
    actor.team = team
    return team
