"""A set of detectors under a policy: what blocks, what is redacted, what is only recorded.

The policy maps, per kind of text (``prompt`` sent to a model, ``response`` from a model
or an agent's tool arguments, ``tool`` results coming back from a tool), a key to an
action. Keys, most specific first: ``detector/category``, ``category``, ``detector``,
``*``; the value ``off`` ignores the findings. The default: prompt injection blocks
prompts and tool results and is only recorded in responses; secrets are redacted
everywhere; PII is redacted in responses and tool results and only recorded in prompts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from plinth.capabilities.screens.verdicts import (
    ACTIONS,
    KINDS,
    Action,
    Detector,
    Finding,
    Kind,
    ScanResult,
    redact,
    stronger,
)
from plinth.core.errors import InvalidInput

__all__ = ["DEFAULT_RULES", "ScreenPolicy", "ScreenSet"]

DEFAULT_RULES: Mapping[Kind, Mapping[str, Action | None]] = {
    "prompt": {"injection": "block", "secrets": "redact", "pii": "allow", "*": "allow"},
    "response": {"injection": "allow", "secrets": "redact", "pii": "redact", "*": "redact"},
    "tool": {"injection": "block", "secrets": "redact", "pii": "redact", "*": "redact"},
}


@dataclass(frozen=True)
class ScreenPolicy:
    """Which findings block, which are redacted, which are only recorded (``None``: ignored)."""

    rules: Mapping[Kind, Mapping[str, Action | None]] = field(default_factory=lambda: DEFAULT_RULES)
    min_score: float = 0.5

    def action_for(self, finding: Finding, kind: Kind) -> Action | None:
        """Return the action for ``finding`` in a ``kind`` of text, or ``None`` to ignore it."""
        if finding.score < self.min_score:
            return None
        table = self.rules.get(kind, {})
        for key in (f"{finding.detector}/{finding.category}", finding.category, finding.detector):
            if key in table:
                return table[key]
        return table.get("*", "allow")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ScreenPolicy:
        """Build a policy from plain data: ``{"min_score": .5, "prompt": {"pii": "redact"}}``.

        Kinds not given keep the default rules; a given kind's rules are laid over the
        default ones. Raises ``InvalidInput`` on an unknown kind or action.
        """
        rules: dict[Kind, dict[str, Action | None]] = {k: dict(v) for k, v in DEFAULT_RULES.items()}
        for key, value in data.items():
            if key == "min_score":
                continue
            if key not in KINDS or not isinstance(value, Mapping):
                raise InvalidInput(f"screen policy: unknown kind {key!r} (use {', '.join(KINDS)})")
            kind: Kind = key
            for name, action in value.items():
                rules[kind][str(name)] = _action(action, f"{key}.{name}")
        score = data.get("min_score", 0.5)
        if not isinstance(score, int | float) or not 0 <= score <= 1:
            raise InvalidInput("screen policy: min_score must be a number between 0 and 1")
        return cls(rules=rules, min_score=float(score))


def _action(value: Any, where: str) -> Action | None:
    if value in (None, "off"):
        return None
    if value not in ACTIONS:
        why = f"screen policy {where}: unknown action {value!r} (allow|redact|block|off)"
        raise InvalidInput(why)
    return value  # type: ignore[no-any-return]


_EMPTY = ScanResult("allow", (), "")


class ScreenSet:
    """Runs its detectors over a text and applies the policy; a ``TextScreen``."""

    name = "screens"

    def __init__(
        self, detectors: Iterable[Detector] = (), *, policy: ScreenPolicy | None = None
    ) -> None:
        self._detectors: list[Detector] = list(detectors)
        self.policy = policy or ScreenPolicy()

    @property
    def names(self) -> list[str]:
        """Return the detectors' names, in order."""
        return [d.name for d in self._detectors]

    def add(self, detector: Detector) -> None:
        """Add a detector after the ones already in the set."""
        self._detectors.append(detector)

    def with_policy(self, policy: ScreenPolicy) -> ScreenSet:
        """Return a set with the same detectors under another policy."""
        return ScreenSet(self._detectors, policy=policy)

    def find(self, text: str, *, kind: Kind = "prompt") -> list[Finding]:
        """Return every detector's findings with the policy's action set (ignored ones left out)."""
        out: list[Finding] = []
        for detector in self._detectors:
            for f in detector.find(text, kind=kind):
                action = self.policy.action_for(f, kind)
                if action is not None and 0 <= f.start < f.end <= len(text):
                    out.append(replace(f, action=action))
        out.sort(key=lambda f: (f.start, f.end))
        return out

    def scan(self, text: str, *, kind: Kind = "prompt") -> ScanResult:
        """Return the verdict on ``text`` seen as a ``kind`` (prompt, response or tool)."""
        if not text:
            return _EMPTY
        findings = self.find(text, kind=kind)
        if not findings:
            return ScanResult("allow", (), text)
        action: Action = "allow"
        for f in findings:
            action = stronger(action, f.action)
        return ScanResult(action, tuple(findings), redact(text, findings))

    def scan_many(self, texts: Sequence[str], *, kind: Kind = "prompt") -> list[ScanResult]:
        """Return the verdict on each text (e.g. each message of a chat)."""
        return [self.scan(t, kind=kind) for t in texts]
