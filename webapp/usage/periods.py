"""A budget's days and months: calendar periods in the team's time zone."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from .models import Ledger

DAY, MONTH = Ledger.Period.DAY, Ledger.Period.MONTH


def zone(name: str) -> ZoneInfo:
    """The team's zone; UTC for a name this machine does not know (a zone removed upstream)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def zone_names() -> list[str]:
    return sorted(available_timezones())


def period_starts(now: datetime, time_zone: str) -> dict[str, date]:
    """The first day of the day and of the month ``now`` falls in, in ``time_zone``."""
    today = now.astimezone(zone(time_zone)).date()
    return {DAY: today, MONTH: today.replace(day=1)}


def period_end(period: str, starts: date, time_zone: str) -> datetime:
    """When the period that began on ``starts`` ends: the next local midnight (or first of
    the month), however long that day is across a change of daylight saving time."""
    if period == DAY:
        following = starts + timedelta(days=1)
    else:
        following = date(starts.year + starts.month // 12, starts.month % 12 + 1, 1)
    return datetime.combine(following, time(0), tzinfo=zone(time_zone))


def resets_in_words(period: str, starts: date, time_zone: str) -> str:
    """ "at midnight (Europe/Berlin)", "on 1 January": when a person may send again."""
    end = period_end(period, starts, time_zone)
    if period == DAY:
        return f"at midnight ({time_zone})" if time_zone != "UTC" else "at midnight (UTC)"
    return f"on {end.day} {end:%B}"
