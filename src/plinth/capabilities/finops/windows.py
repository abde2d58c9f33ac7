"""Time windows of cost reports: ``30d``, ``24h``, ISO 8601 durations and intervals.

Accepted forms (bad ones raise ``InvalidInput`` saying what is accepted):

- a short duration ending now: ``90s``, ``15m``, ``24h``, ``30d``, ``2w``;
- an ISO 8601 duration ending now: ``P30D``, ``PT24H``, ``P1W``, ``P1DT12H``
  (years and months are refused: their length varies);
- an ISO 8601 interval: ``2026-11-01T00:00:00Z/2026-11-28T00:00:00Z``, or a
  start and a duration: ``2026-11-01T00:00:00Z/P7D``;
- explicit ``start`` and/or ``end`` timestamps with a zone (``end`` defaults to
  now; a start alone reaches to now; a window with an end ends there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from plinth.core.errors import InvalidInput

__all__ = ["MAX_SPAN", "Window", "parse_duration", "parse_instant", "parse_window"]

MAX_SPAN = timedelta(days=732)
_SHORT = re.compile(r"(\d{1,6})([smhdw])")
_ISO = re.compile(
    r"P(?:(?P<w>\d{1,6})W)?(?:(?P<d>\d{1,6})D)?"
    r"(?:T(?:(?P<h>\d{1,6})H)?(?:(?P<m>\d{1,6})M)?(?:(?P<s>\d{1,6})S)?)?"
)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_FORMS = "e.g. 30d, 24h, 15m, P7D, PT24H, or START/END in ISO 8601 with a zone"


@dataclass(frozen=True)
class Window:
    """A half-open span of time ``[start, end)``, both aware UTC."""

    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        """Return the length of the window in seconds."""
        return (self.end - self.start).total_seconds()

    def as_dict(self) -> dict[str, str]:
        """Return the window as ISO 8601 strings."""
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


def parse_duration(text: str, *, what: str = "window") -> timedelta:
    """Return the length of ``30d``/``24h``/``P7D``-style text; InvalidInput when malformed."""
    raw = text.strip()
    short = _SHORT.fullmatch(raw.lower())
    iso = _ISO.fullmatch(raw.upper())
    if short:
        seconds = int(short[1]) * _UNITS[short[2]]
    elif iso and raw.upper() not in ("P", "PT") and not raw.upper().endswith("T"):
        parts = {k: int(v) for k, v in iso.groupdict().items() if v}
        seconds = sum(parts.get(k, 0) * _UNITS[k] for k in ("w", "d", "h", "m", "s"))
    else:
        date_part = raw.upper()[1:].split("T")[0] if raw.upper().startswith("P") else ""
        if "Y" in date_part or "M" in date_part:
            raise InvalidInput(f"{what} {text!r}: years and months vary in length; use days")
        raise InvalidInput(f"{what} {text!r} is not a duration ({_FORMS})")
    if seconds <= 0:
        raise InvalidInput(f"{what} {text!r} must be longer than zero")
    return timedelta(seconds=seconds)


def parse_instant(text: str, *, what: str) -> datetime:
    """Return an aware UTC datetime from ISO 8601 text; a missing zone is an error."""
    raw = text.strip()
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{what} {text!r} is not an ISO 8601 timestamp") from None
    if value.tzinfo is None:
        raise InvalidInput(f"{what} {text!r} has no time zone (add Z or +00:00)")
    return value.astimezone(UTC)


def parse_window(
    window: str | None,
    *,
    now: datetime,
    start: str | None = None,
    end: str | None = None,
    default: str = "30d",
) -> Window:
    """Return the window a report covers; InvalidInput explains a bad one."""
    end_at = parse_instant(end, what="end") if end else None
    start_at = parse_instant(start, what="start") if start else None
    if window and start_at is not None:
        raise InvalidInput("give either window or start, not both")
    if window and "/" in window:
        if end_at is not None:
            raise InvalidInput("an interval window already has an end; do not give end too")
        result = _interval(window)
    elif start_at is not None:
        result = Window(start_at, end_at or now)
    else:
        stop = end_at or now
        result = Window(stop - parse_duration(window or default), stop)
    if result.end <= result.start:
        raise InvalidInput(
            f"the window ends ({result.end.isoformat()}) before it starts "
            f"({result.start.isoformat()})"
        )
    if result.end - result.start > MAX_SPAN:
        raise InvalidInput(f"the window is longer than {MAX_SPAN.days} days")
    return result


def _interval(text: str) -> Window:
    first, _, second = text.partition("/")
    start = parse_instant(first, what="window start")
    if second.strip().upper().startswith("P"):
        return Window(start, start + parse_duration(second, what="window"))
    return Window(start, parse_instant(second, what="window end"))
