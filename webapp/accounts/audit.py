"""The audit log: what the people who run a team did to it, who did it and when.

Services record their event with ``audit_record`` inside the transaction of the change it
describes, so the log holds exactly the changes that happened. An event's details are
plain facts for a reader (a role, an address, a flag), never a secret.
"""

from __future__ import annotations

from datetime import date

from django.db.models import QuerySet

from .models import AuditEvent, Membership, Team, User

ACTION_MAX = AuditEvent._meta.get_field("action").max_length
SUBJECT_MAX = AuditEvent._meta.get_field("subject").max_length
# Names a secret would be stored under; details carrying one are refused outright.
SECRET_NAMES = frozenset({"password", "token", "secret", "key", "api_key", "private_key", "service_account"})


def audit_record(
    *, team: Team, actor: User | Membership | None, action: str, subject: str = "", details: dict | None = None
) -> AuditEvent:
    """Record one event. ``actor``: the person who acted (a membership stands for its person),
    or None for the system. ValueError for an action code that does not fit, or details
    naming a secret (``SECRET_NAMES``)."""
    if not action or len(action) > ACTION_MAX:
        raise ValueError(f"an audit action is a short code of at most {ACTION_MAX} characters")
    details = dict(details or {})
    secret = SECRET_NAMES.intersection(str(name).lower() for name in details)
    if secret:
        raise ValueError(f"audit details never hold a secret: {sorted(secret)}")
    if isinstance(actor, Membership):
        actor = actor.user
    return AuditEvent.objects.create(
        team=team,
        actor=actor,
        actor_name=actor.username if actor is not None else "",
        action=action,
        subject=subject[:SUBJECT_MAX],
        details=details,
    )


def audit_events(
    *,
    team: Team,
    action: str = "",
    actor_id: int | None = None,
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[AuditEvent]:
    """The team's events, newest first, narrowed by action, by who acted and by day (both
    ends included, in the site's time zone)."""
    events = AuditEvent.objects.filter(team=team)
    if action:
        events = events.filter(action=action)
    if actor_id is not None:
        events = events.filter(actor_id=actor_id)
    if since is not None:
        events = events.filter(created_at__date__gte=since)
    if until is not None:
        events = events.filter(created_at__date__lte=until)
    return events.order_by("-created_at", "-pk")


def audit_choices(team: Team) -> tuple[list[str], list[tuple[int, str]]]:
    """What the filters offer: the actions and the people found in the team's log."""
    events = AuditEvent.objects.filter(team=team).order_by()
    actions = sorted(set(events.values_list("action", flat=True)))
    named = dict(events.exclude(actor=None).values_list("actor_id", "actor_name"))
    actors = sorted(named.items(), key=lambda actor: actor[1].lower())
    return actions, actors
