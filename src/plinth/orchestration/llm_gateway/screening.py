"""Screens on the gateway's traffic: prompts, tool results in messages, responses.

The screens are the platform's text screens (``plinth.capabilities.screens``: a
``ScreenSet`` whose ``scan(text, kind=...)`` returns an action - allow, redact or block
- with findings and the redacted text). Prompts and tool results (messages with role
``tool``) go through the default screens before the call: a block refuses the request;
a redaction is applied upstream only when the team's ``LlmAccess`` says
``redactPrompts``. Responses go through the PII and secret detectors (the default
policy only records prompt injection found in responses, so that detector is not run
on output) and are redacted when a screen says so.

Streams are redacted per chunk with a carry-over buffer (:class:`StreamRedactor`): the
last ``carry`` characters of the text seen so far are held back until more text
arrives (or the stream ends), and the cut never falls inside a finding, so a secret or
an e-mail address split over two chunks is still found whole. The cost is a delay of
``carry`` characters (about 15 tokens) on the stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from plinth.capabilities.screens import (
    Kind,
    PiiDetector,
    ScanResult,
    ScreenSet,
    SecretsDetector,
    default_screens,
)

__all__ = ["Scan", "Screening", "StreamRedactor", "load_screens", "response_screens"]


@dataclass
class Scan:
    """What the screens said about one text."""

    action: str  # allow | redact | block
    redacted: str
    categories: list[str] = field(default_factory=list)


def load_screens() -> ScreenSet:
    """Return the platform's default text screens (injection, PII, secrets)."""
    return default_screens()


def response_screens() -> ScreenSet:
    """Return the screens for model output: PII and secrets."""
    return ScreenSet([PiiDetector(), SecretsDetector()])


class Screening:
    """Runs the screens: ``screens`` on prompts and tool results, ``output`` on responses."""

    def __init__(self, screens: ScreenSet | None, output: ScreenSet | None = None) -> None:
        self.screens = screens
        self.output = output if output is not None else screens

    @property
    def enabled(self) -> bool:
        """True when screens are installed."""
        return self.screens is not None

    def raw(self, text: str, *, kind: str) -> ScanResult | None:
        """Return the screens' own result on one text (None without screens)."""
        screens = self.output if kind == "response" else self.screens
        if screens is None or not text:
            return None
        return screens.scan(text, kind=cast(Kind, kind))

    def scan(self, text: str, *, kind: str) -> Scan:
        """Screen one text."""
        result = self.raw(text, kind=kind)
        if result is None:
            return Scan("allow", text)
        categories = [f.category or f.detector for f in result.findings]
        return Scan(str(result.action), result.redacted, categories)


class StreamRedactor:
    """Redacts a stream of text deltas, holding back ``carry`` characters (see the module)."""

    def __init__(self, screening: Screening, *, carry: int = 64) -> None:
        self.screening, self.carry = screening, carry
        self.pending = ""
        self.redactions = 0
        self.categories: list[str] = []

    def push(self, text: str) -> str:
        """Add a delta; return the text that may go out now (maybe empty)."""
        if self.screening.output is None:
            return text
        self.pending += text
        if len(self.pending) <= self.carry:
            return ""
        cut = len(self.pending) - self.carry
        result = self.screening.raw(self.pending, kind="response")
        for finding in result.findings if result is not None else ():
            if finding.start < cut < finding.end:  # never cut inside a finding
                cut = finding.start
        return self._emit(cut)

    def _emit(self, cut: int) -> str:
        head, self.pending = self.pending[:cut], self.pending[cut:]
        return self._redact(head)

    def _redact(self, text: str) -> str:
        scan = self.screening.scan(text, kind="response")
        if scan.action == "allow" or scan.redacted == text:
            return text
        self.redactions += len(scan.categories) or 1
        self.categories.extend(scan.categories)
        return scan.redacted

    def finish(self) -> str:
        """Return whatever is held back, redacted."""
        tail, self.pending = self.pending, ""
        return self._redact(tail) if tail else ""
