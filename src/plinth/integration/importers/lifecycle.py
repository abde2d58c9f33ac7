"""Lifecycle annotations of a Score workload: stopped, time to live, the janitor's mark.

``plinth.dev/stopped``
    ``"true"`` keeps the workload's processes stopped (the provider spec gets
    ``"stopped": true``); ``"false"`` or no annotation runs it.
``plinth.dev/ttl``
    When the workload may be cleaned up: a duration (``"90m"``, ``"36h"``,
    ``"7d"``, ``"2w"``; counted from the workload's first apply) or an RFC 3339
    time with a zone (``"2026-12-31T18:00:00Z"``, ``"2026-12-31T18:00:00+01:00"``).
``plinth.dev/janitor-mark``
    Written by the janitor agent only: ``"<reason>; <date>"``.

Bad values are errors at plan time (the Score translator calls these parsers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from plinth.core.errors import InvalidInput

__all__ = [
    "ANNOTATION_JANITOR_MARK",
    "ANNOTATION_STOPPED",
    "ANNOTATION_TTL",
    "MAX_TTL",
    "Ttl",
    "parse_stopped",
    "parse_ttl",
]

ANNOTATION_STOPPED = "plinth.dev/stopped"
ANNOTATION_TTL = "plinth.dev/ttl"
ANNOTATION_JANITOR_MARK = "plinth.dev/janitor-mark"

MAX_TTL = timedelta(days=3650)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^(?P<amount>[0-9]{1,9})(?P<unit>[smhdw])$")
_RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


@dataclass(frozen=True)
class Ttl:
    """A parsed time to live: a duration from the first apply, or a fixed expiry."""

    duration: timedelta | None = None
    expires_at: datetime | None = None

    def expiry(self, created_at: datetime) -> datetime:
        """Return when a workload first applied at ``created_at`` expires."""
        if self.expires_at is not None:
            return self.expires_at
        return created_at + (self.duration or timedelta(0))


def parse_ttl(text: str) -> Ttl:
    """Return the ``plinth.dev/ttl`` value ``text`` parsed; InvalidInput says what is accepted."""
    value = text.strip()
    match = _DURATION.match(value)
    if match:
        seconds = int(match.group("amount")) * _UNITS[match.group("unit")]
        if seconds <= 0 or seconds > MAX_TTL.total_seconds():
            raise InvalidInput(
                f"{ANNOTATION_TTL} {text!r} must be more than 0 and at most {MAX_TTL.days} days"
            )
        return Ttl(duration=timedelta(seconds=seconds))
    if _RFC3339.match(value):
        try:
            parsed = datetime.fromisoformat(value.upper().replace(" ", "T"))
        except ValueError as exc:
            raise InvalidInput(f"{ANNOTATION_TTL} {text!r} is not a valid time: {exc}") from exc
        if parsed.tzinfo is not None:
            return Ttl(expires_at=parsed.astimezone(UTC))
    raise InvalidInput(
        f"{ANNOTATION_TTL} {text!r} is neither a duration such as '36h', '7d' or '2w' "
        "(units s, m, h, d, w) nor an RFC 3339 time with a zone such as "
        "'2026-12-31T18:00:00Z'"
    )


def parse_stopped(text: str) -> bool:
    """Return the ``plinth.dev/stopped`` value ``text`` as a boolean; InvalidInput otherwise."""
    value = text.strip().lower()
    if value in ("true", "false"):
        return value == "true"
    raise InvalidInput(f"{ANNOTATION_STOPPED} must be 'true' or 'false', not {text!r}")
