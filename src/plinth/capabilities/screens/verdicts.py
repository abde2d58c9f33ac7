"""What a screen reports: findings in a text, and the verdict (allow, redact, block).

A *detector* finds spans (``Finding``) in a text; a ``ScreenSet`` runs detectors and a
``ScreenPolicy`` turns their findings into one ``ScanResult``: the strongest action any
finding asks for, and the text with every redacted span replaced by a placeholder such as
``[REDACTED:EMAIL]``. Findings never carry the matched text, so a result can be recorded
in the audit chain as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

__all__ = [
    "ACTIONS",
    "KINDS",
    "Action",
    "Detector",
    "Finding",
    "Kind",
    "ScanResult",
    "TextScreen",
    "redact",
    "stronger",
]

Action = Literal["allow", "redact", "block"]
Kind = Literal["prompt", "response", "tool"]

ACTIONS: tuple[Action, ...] = ("allow", "redact", "block")
KINDS: tuple[Kind, ...] = ("prompt", "response", "tool")
_RANK = {a: i for i, a in enumerate(ACTIONS)}


def stronger(a: Action, b: Action) -> Action:
    """Return the stronger of two actions (block > redact > allow)."""
    return a if _RANK[a] >= _RANK[b] else b


@dataclass(frozen=True, slots=True)
class Finding:
    """One span a detector flagged: ``text[start:end]`` is of ``category`` with ``score``.

    ``action`` is filled in by the policy when the finding is part of a ``ScanResult``.
    """

    detector: str
    category: str
    start: int
    end: int
    score: float
    action: Action = "allow"

    @property
    def label(self) -> str:
        """Return the redaction placeholder of this finding, e.g. ``[REDACTED:EMAIL]``."""
        return f"[REDACTED:{self.category.upper().replace('-', '_')}]"

    def as_dict(self) -> dict[str, Any]:
        """Return the finding as plain data (no matched text)."""
        return {
            "detector": self.detector,
            "category": self.category,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 3),
            "action": self.action,
        }


@dataclass(frozen=True, slots=True)
class ScanResult:
    """The verdict on one text: the action, what was found, and the text to pass on.

    ``redacted`` equals the input when nothing was redacted; on ``block`` it still holds
    the redacted text, but callers must not pass it on.
    """

    action: Action
    findings: tuple[Finding, ...]
    redacted: str

    @property
    def blocked(self) -> bool:
        """True when the text must not go through."""
        return self.action == "block"

    @property
    def categories(self) -> list[str]:
        """Return the distinct categories found, sorted."""
        return sorted({f.category for f in self.findings})

    @property
    def redactions(self) -> int:
        """Return how many spans were redacted."""
        return sum(1 for f in self.findings if f.action == "redact")

    def reasons(self) -> tuple[str, ...]:
        """Return one short human reason per (detector, category, action), for errors and audit."""
        seen: dict[tuple[str, str, str], int] = {}
        for f in self.findings:
            key = (f.detector, f.category, f.action)
            seen[key] = seen.get(key, 0) + 1
        return tuple(f"{d}: {c} ({a}, {n}x)" for (d, c, a), n in sorted(seen.items()))

    def as_dict(self) -> dict[str, Any]:
        """Return the verdict as plain data without the text itself (safe to audit)."""
        return {
            "action": self.action,
            "categories": self.categories,
            "redactions": self.redactions,
            "findings": [f.as_dict() for f in self.findings],
        }


class Detector(Protocol):
    """Finds spans of one family (injection, PII, secrets…) in a text.

    ``find`` must be pure and fast: no I/O, no state kept between calls, patterns compiled
    once. Offsets are into the text given, ``0 <= start < end <= len(text)``.
    """

    name: str

    def find(self, text: str, *, kind: Kind = "prompt") -> Sequence[Finding]:
        """Return the spans found in ``text`` (a ``kind`` of message), in any order."""
        ...


class TextScreen(Protocol):
    """Screens a text and says what to do with it (the LLM gateway calls this)."""

    name: str

    def scan(self, text: str, *, kind: Kind = "prompt") -> ScanResult:
        """Return the verdict on ``text`` seen as a ``kind`` (prompt, response or tool)."""
        ...


def redact(text: str, findings: Sequence[Finding]) -> str:
    """Return ``text`` with the spans of redact-action findings replaced by their labels.

    Overlapping spans are merged; the merged span takes the label of its first finding.
    """
    spans = sorted((f for f in findings if f.action == "redact"), key=lambda f: (f.start, -f.end))
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    cur_end = -1
    for f in spans:
        if f.start < cur_end:
            cur_end = max(cur_end, f.end)
            continue
        if cur_end >= 0:
            pos = cur_end
        out.append(text[pos : f.start])
        out.append(f.label)
        cur_end = f.end
    out.append(text[cur_end:])
    return "".join(out)
