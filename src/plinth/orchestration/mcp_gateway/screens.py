"""Screens: checks of a tool call's arguments and result (allow, redact or block).

The default ``ScreenRegistry`` runs the size-and-shape screen, which refuses oversize or
malformed arguments and oversize results before they reach the upstream or the agent,
then the content screen: the platform's text screens (``plinth.capabilities.screens``:
prompt injection, PII, secrets) over every string in the JSON value. Arguments are
screened as a ``prompt`` (secrets redacted, injection blocked, PII recorded), results as
a ``tool`` result (injection blocks the result, secrets and PII are redacted in place).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from plinth.capabilities.screens import Finding, Kind, ScanResult, ScreenSet, default_screens
from plinth.capabilities.screens import redact as redact_text

__all__ = [
    "ContentScreen",
    "Screen",
    "ScreenRegistry",
    "ScreenResult",
    "SizeShapeScreen",
    "ToolRef",
]


@dataclass(frozen=True)
class ToolRef:
    """The tool a screen looks at: server, tool name, annotations and the server's trust."""

    server: str
    name: str
    trust: str
    annotations: Mapping[str, bool] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Return ``server/tool``."""
        return f"{self.server}/{self.name}"


@dataclass(frozen=True)
class ScreenResult:
    """A screen's verdict: ``allow``, ``redact`` (use ``replacement``) or ``block``."""

    action: str
    reasons: tuple[str, ...] = ()
    replacement: Any = None
    screen: str = ""

    @classmethod
    def allow(cls) -> ScreenResult:
        """Return a verdict that lets the value through unchanged."""
        return _ALLOW


_ALLOW = ScreenResult("allow")


class Screen(Protocol):
    """A check of tool calls; screens must be fast and must not do I/O on the hot path.

    ``screen_arguments`` sees the arguments before the upstream does; ``screen_result``
    sees the upstream's result (its JSON wire form) before the agent does. A ``redact``
    verdict carries the cleaned value in ``replacement``; ``block`` stops the call and
    its reasons are shown to the agent and recorded in the audit chain.
    """

    name: str

    def screen_arguments(self, tool: ToolRef, args: Mapping[str, Any]) -> ScreenResult:
        """Return the verdict on a call's arguments."""
        ...

    def screen_result(self, tool: ToolRef, result: Mapping[str, Any]) -> ScreenResult:
        """Return the verdict on a call's result."""
        ...


def _depth(value: Any, limit: int) -> bool:
    """True when ``value`` nests no deeper than ``limit`` (iterative, no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


class SizeShapeScreen:
    """Refuses arguments over ``max_argument_bytes`` or nested deeper than ``max_depth``."""

    name = "size-shape"

    def __init__(
        self,
        *,
        max_argument_bytes: int = 65536,
        max_result_bytes: int = 1048576,
        max_depth: int = 32,
    ) -> None:
        self.max_argument_bytes = max_argument_bytes
        self.max_result_bytes = max_result_bytes
        self.max_depth = max_depth

    def screen_arguments(self, tool: ToolRef, args: Mapping[str, Any]) -> ScreenResult:
        """Block arguments that are not an object, too large or too deep."""
        if not isinstance(args, Mapping):
            return ScreenResult("block", ("arguments must be a JSON object",), screen=self.name)
        size = len(json.dumps(args, separators=(",", ":"), default=str).encode())
        if size > self.max_argument_bytes:
            why = f"arguments are {size} bytes, over the limit of {self.max_argument_bytes} bytes"
            return ScreenResult("block", (why,), screen=self.name)
        if not _depth(args, self.max_depth):
            why = f"arguments nest deeper than {self.max_depth} levels"
            return ScreenResult("block", (why,), screen=self.name)
        return _ALLOW

    def screen_result(self, tool: ToolRef, result: Mapping[str, Any]) -> ScreenResult:
        """Block results larger than ``max_result_bytes``."""
        size = len(json.dumps(result, separators=(",", ":"), default=str).encode())
        if size > self.max_result_bytes:
            why = f"the result is {size} bytes, over the limit of {self.max_result_bytes} bytes"
            return ScreenResult("block", (why,), screen=self.name)
        return _ALLOW


# Joins a JSON value's strings into one text so the screens run once per value; no
# pattern crosses it except the injection patterns (an instruction split over fields).
_JOIN = "\n\x1f\n"
_MIN_STRING = 6


def _strings(value: Any) -> list[tuple[Any, Any, str]]:
    """Return ``(container, key, text)`` for each string in ``value``, in a fixed order."""
    out: list[tuple[Any, Any, str]] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        pairs = item.items() if isinstance(item, dict) else enumerate(item)
        for key, child in pairs:
            if isinstance(child, str):
                if len(child) >= _MIN_STRING:
                    out.append((item, key, child))
            elif isinstance(child, dict | list):
                stack.append(child)
    return out


def _pieces(findings: Sequence[Finding], starts: list[int], texts: list[str]) -> list[str]:
    """Return each string with the redact findings that fall in it applied."""
    out = list(texts)
    touched: dict[int, list[Finding]] = {}
    for f in findings:
        if f.action != "redact":
            continue
        for i, (start, text) in enumerate(zip(starts, texts, strict=True)):
            a, b = max(f.start, start), min(f.end, start + len(text))
            if a < b:
                touched.setdefault(i, []).append(replace(f, start=a - start, end=b - start))
    for i, spans in touched.items():
        out[i] = redact_text(texts[i], spans)
    return out


class ContentScreen:
    """The platform's text screens over every string of a tool call's arguments and result."""

    name = "content"

    def __init__(
        self,
        screens: ScreenSet | None = None,
        *,
        arguments_kind: Kind = "prompt",
        result_kind: Kind = "tool",
    ) -> None:
        self.screens = screens or default_screens()
        self.arguments_kind: Kind = arguments_kind
        self.result_kind: Kind = result_kind

    def screen_arguments(self, tool: ToolRef, args: Mapping[str, Any]) -> ScreenResult:
        """Screen the arguments' strings as a prompt: redact secrets, block injection."""
        return self._screen(args, self.arguments_kind)

    def screen_result(self, tool: ToolRef, result: Mapping[str, Any]) -> ScreenResult:
        """Screen the result's strings as a tool result: block injection, redact secrets and PII."""
        return self._screen(result, self.result_kind)

    def _screen(self, value: Any, kind: Kind) -> ScreenResult:
        if not isinstance(value, dict | list):
            return _ALLOW
        found = _strings(value)
        if not found:
            return _ALLOW
        texts = [t for _, _, t in found]
        verdict: ScanResult = self.screens.scan(_JOIN.join(texts), kind=kind)
        if verdict.action == "allow":
            return _ALLOW
        reasons = verdict.reasons()
        if verdict.action == "block":
            return ScreenResult("block", reasons, screen=self.name)
        starts, pos = [], 0
        for t in texts:
            starts.append(pos)
            pos += len(t) + len(_JOIN)
        cleaned = _pieces(verdict.findings, starts, texts)
        copy = json.loads(json.dumps(value))
        for (container, key, _), text in zip(_strings(copy), cleaned, strict=True):
            container[key] = text
        return ScreenResult("redact", reasons, copy, screen=self.name)


class ScreenRegistry:
    """The screens every call passes, in order; the first ``block`` wins."""

    def __init__(self, screens: Sequence[Screen] = ()) -> None:
        self._screens: list[Screen] = list(screens)

    @classmethod
    def default(
        cls, *, max_argument_bytes: int = 65536, content: ScreenSet | None = None
    ) -> ScreenRegistry:
        """Return a registry with the size-and-shape screen, then the content screen."""
        return cls([SizeShapeScreen(max_argument_bytes=max_argument_bytes), ContentScreen(content)])

    def add(self, screen: Screen) -> None:
        """Add a screen after the ones already registered."""
        self._screens.append(screen)

    @property
    def names(self) -> list[str]:
        """Return the registered screens' names, in order."""
        return [s.name for s in self._screens]

    def arguments(self, tool: ToolRef, args: Mapping[str, Any]) -> tuple[ScreenResult, Any]:
        """Run every screen on the arguments; return the deciding verdict and the value to use."""
        return self._run(tool, args, result=False)

    def result(self, tool: ToolRef, result: Mapping[str, Any]) -> tuple[ScreenResult, Any]:
        """Run every screen on a result; return the deciding verdict and the value to use."""
        return self._run(tool, result, result=True)

    def _run(self, tool: ToolRef, value: Any, *, result: bool) -> tuple[ScreenResult, Any]:
        redacted: list[str] = []
        for screen in self._screens:
            check = screen.screen_result if result else screen.screen_arguments
            verdict = check(tool, value)
            if verdict.action == "block":
                return verdict, value
            if verdict.action == "redact":
                value = verdict.replacement
                redacted.extend(verdict.reasons or (f"redacted by {screen.name}",))
            elif verdict.action != "allow":
                why = f"screen {screen.name} returned an unknown verdict {verdict.action!r}"
                return ScreenResult("block", (why,), screen=screen.name), value
        if redacted:
            return ScreenResult("redact", tuple(redacted), value), value
        return _ALLOW, value
