"""Cron expressions with an IANA timezone: validation and the fire instants of a schedule.

Owns `CronSpec`. Parsing and wall-clock iteration are croniter's; this module only maps
wall-clock times of the schedule's timezone (zoneinfo) to UTC instants, with a fixed
policy at daylight-saving changes:
- a wall time that does not exist (spring forward, e.g. 02:30 in Europe/Paris on the
  last Sunday of March) fires at the same offset after the gap: 03:30 local;
- a wall time that occurs twice (fall back) fires once, at its first occurrence;
- instants are strictly increasing: two wall times that land on the same instant fire once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

MAX_SCAN = 100_000  # wall-clock candidates examined per query, a bound on odd expressions
LOOKBACK = timedelta(days=1)  # longer than any offset change (date-line moves: 24 h)
ZERO = timedelta(0)


class CronError(ValueError):
    """An invalid cron expression or timezone (the message says which)."""


@dataclass(frozen=True)
class CronSpec:
    expression: str
    timezone: str

    def __post_init__(self) -> None:
        zone(self.timezone)
        if len(self.expression.split()) != 5 or not croniter.is_valid(self.expression):
            raise CronError(
                f"'{self.expression}' is not a cron expression with 5 fields "
                "(minute hour day-of-month month day-of-week), e.g. '30 2 * * *'"
            )

    def fires_after(self, after: datetime) -> Iterator[datetime]:
        """Fire instants (UTC, aware) strictly after `after`, in order, without end."""
        tz = zone(self.timezone)
        walls = croniter(self.expression, _wall_start(after, tz))
        previous = after.astimezone(UTC)
        for _ in range(MAX_SCAN):
            try:
                wall: datetime = walls.get_next(datetime)
            except CroniterBadDateError:  # e.g. February 30th: it never fires
                return
            instant = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
            if instant > previous:
                previous = instant
                yield instant

    def next_fires(self, after: datetime, count: int) -> list[datetime]:
        found: list[datetime] = []
        for instant in self.fires_after(after):
            found.append(instant)
            if len(found) == count:
                break
        return found

    def fires_between(self, after: datetime, until: datetime) -> list[datetime]:
        """Fire instants in (after, until]."""
        found: list[datetime] = []
        for instant in self.fires_after(after):
            if instant > until:
                break
            found.append(instant)
        return found


def _wall_start(after: datetime, tz: ZoneInfo) -> datetime:
    """The wall time to scan from: `after`'s own, moved back by how much the zone's UTC
    offset grew during the day before (wall times of a gap fire after it). Not a whole
    day back every time: the scheduler asks every pass, and a day of candidates of a
    per-minute schedule is 1440 croniter steps."""
    local = after.astimezone(tz)
    before = (after - LOOKBACK * k / 48 for k in range(1, 49))
    lowest = min(moment.astimezone(tz).utcoffset() or ZERO for moment in before)
    return local.replace(tzinfo=None) - max(ZERO, (local.utcoffset() or ZERO) - lowest)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: name too long
        shown = name if len(name) <= 60 else f"{name[:60]}..."
        raise CronError(f"'{shown}' is not an IANA timezone (e.g. 'Europe/Paris', 'UTC')") from exc


__all__ = ["CronError", "CronSpec", "zone"]
