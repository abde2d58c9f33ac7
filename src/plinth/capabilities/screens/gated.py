"""Regexes gated by literal words, so that text without the words costs a substring search.

Python's ``re`` tries a pattern at every position unless it starts with a literal; a
``GatedPattern`` names the literal words (``anchors``) every match must contain, and the
pattern runs only on windows around their occurrences (or, with ``window=None``, on the
whole text once any anchor occurs). Anchors are matched against the text as given, so
callers lower-case or normalize first when the pattern is case-insensitive.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = ["GatedPattern", "GatedSet", "gated_matches", "windows"]


@dataclass(frozen=True)
class GatedPattern:
    """A compiled pattern, its category and score, and the literal words that gate it."""

    category: str
    regex: re.Pattern[str]
    score: float
    anchors: tuple[str, ...]
    window: tuple[int, int] | None = (120, 260)
    word_start: bool = False

    @classmethod
    def of(
        cls,
        category: str,
        pattern: str,
        score: float,
        anchors: Sequence[str],
        *,
        window: tuple[int, int] | None = (120, 260),
        flags: int = 0,
    ) -> GatedPattern:
        """Compile ``pattern`` and return it gated by ``anchors``.

        A leading ``\\b`` is dropped from the regex and checked on each match instead:
        without it ``re`` skips ahead to the pattern's possible first letters, several
        times faster.
        """
        word_start = pattern.startswith(r"\b")
        body = pattern[2:] if word_start else pattern
        return cls(category, re.compile(body, flags), score, tuple(anchors), window, word_start)

    def finditer(
        self, text: str, start: int = 0, end: int | None = None
    ) -> Iterator[re.Match[str]]:
        """Yield the matches in ``text[start:end]`` (starting on a word boundary if asked)."""
        found = self.regex.finditer(text, start, len(text) if end is None else end)
        if not self.word_start:
            yield from found
            return
        for m in found:
            at = m.start()
            if at == 0 or not (text[at - 1].isalnum() or text[at - 1] == "_"):
                yield m


def windows(text: str, anchors: Sequence[str], before: int, after: int) -> list[tuple[int, int]]:
    """Return the merged ``[start, end)`` windows around each occurrence of each anchor."""
    spans: list[tuple[int, int]] = []
    size = len(text)
    for anchor in anchors:
        pos = text.find(anchor)
        while pos >= 0:
            spans.append((max(0, pos - before), min(size, pos + after)))
            pos = text.find(anchor, pos + max(1, after // 2))
    if len(spans) < 2:
        return spans
    spans.sort()
    merged = [spans[0]]
    for a, b in spans[1:]:
        if a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


_SHORT = 1024  # texts up to this size are matched whole: cheaper than finding windows


_ASCII_PUNCT = bytes(c for c in range(128) if not chr(c).isalnum())
_TO_SPACE = bytes.maketrans(_ASCII_PUNCT, b" " * len(_ASCII_PUNCT))


def words(text: str) -> set[bytes]:
    """Return the set of words of ``text`` (runs of letters and digits), as UTF-8 bytes."""
    return set(text.encode("utf-8", "surrogatepass").translate(_TO_SPACE).split())


class GatedSet:
    """Gated patterns that share one look for their anchors per text.

    With ``whole_words``, anchors are whole words and are looked up in the text's word
    set (one pass over the text, however many anchors); otherwise each anchor is a
    substring searched for on its own.
    """

    def __init__(self, patterns: Sequence[GatedPattern], *, whole_words: bool = False) -> None:
        self.patterns = list(patterns)
        self.anchors = tuple(sorted({a for p in self.patterns for a in p.anchors}))
        self.whole_words = whole_words
        self._encoded = {a.encode(): a for a in self.anchors}

    def _present(self, look: str, whole_words: bool) -> set[str]:
        if whole_words:
            return {self._encoded[w] for w in words(look) & self._encoded.keys()}
        return {a for a in self.anchors if a in look}

    def matches(
        self, text: str, *, probe: str | None = None, substrings: bool = False
    ) -> Iterator[tuple[GatedPattern, re.Match[str]]]:
        """Yield each pattern's matches in ``text``; anchors are looked for in ``probe``.

        ``probe`` must have the same length as ``text`` (e.g. its ``lower()``); a match
        is yielded once even where windows around two anchors overlap. ``substrings``
        looks for whole-word anchors as substrings too (text whose words were joined).
        """
        look = text if probe is None else probe
        present = self._present(look, self.whole_words and not substrings)
        if not present:
            return
        for pattern in self.patterns:
            anchors = [a for a in pattern.anchors if a in present]
            if not anchors:
                continue
            if pattern.window is None or len(text) <= _SHORT:
                yield from ((pattern, m) for m in pattern.finditer(text))
                continue
            for a, b in windows(look, anchors, *pattern.window):
                yield from ((pattern, m) for m in pattern.finditer(text, a, b))


def gated_matches(
    text: str, patterns: Sequence[GatedPattern], *, probe: str | None = None
) -> Iterator[tuple[GatedPattern, re.Match[str]]]:
    """Yield each pattern's matches in ``text`` (see ``GatedSet.matches``)."""
    return GatedSet(patterns).matches(text, probe=probe)
