"""Undo the usual obfuscations before matching: homoglyphs, zero-width, spacing, leetspeak.

``normalize(text)`` returns a lower-case ASCII-ish view of the text and a map back to
the original offsets. Look-alike letters (Cyrillic, Greek, full-width and mathematical
alphanumerics) map one to one; zero-width characters, soft hyphens and combining marks
are dropped, as are the separators inside a run of single letters (``i g n o r e``,
``i.g.n.o.r.e``). ``deleet`` maps digits and symbols used as letters (``1gn0r3``) one to
one. Plain ASCII text without spaced-out letters takes a fast path with no copy but a
``lower()``.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass

__all__ = ["Normalized", "deleet", "normalize"]

_DROP = "\x00"
# Zero-width and invisible formatting characters, soft hyphen, variation selectors.
_INVISIBLE = [
    *(0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x3164, 0xFEFF, 0xFFA0),
    *range(0x200B, 0x2010),
    *range(0x202A, 0x202F),
    *range(0x2060, 0x2070),
    *range(0xFE00, 0xFE10),
]
# Cyrillic and Greek letters that look like Latin ones (lower and upper case).
_CONFUSABLE_FROM = (
    "\u0430\u0435\u043e\u0440\u0441\u0443\u0445\u0456\u0458\u0455\u04bb\u0501"
    "\u051b\u051d\u04cf\u0261\u0251\u0131\u0410\u0412\u0415\u041a\u041c\u041d"
    "\u041e\u0420\u0421\u0422\u0423\u0425\u0406\u0408\u0405\u0500\u051a\u051c"
    "\u03b1\u03bf\u03bd\u03c1\u03c4\u03c5\u03b9\u03ba\u03b5\u0391\u0392\u0395"
    "\u0396\u0397\u0399\u039a\u039c\u039d\u039f\u03a1\u03a4\u03a5\u03a7\u0130"
    "\u2113"
)
_CONFUSABLE_TO = "aeopcyxijshdqwlgaiabekmhopctyxijsdqwaovptuikeabezhikmnoptyxil"


def _build_table() -> dict[int, str]:
    table: dict[int, str] = {cp: _DROP for cp in _INVISIBLE}
    for ch, latin in zip(_CONFUSABLE_FROM, _CONFUSABLE_TO, strict=True):
        table[ord(ch)] = latin
    ranges = [(0xFF01, 0xFF5F), (0x1D400, 0x1D800), (0x2460, 0x24EA), (0x00C0, 0x0250)]
    for lo, hi in ranges:
        for cp in range(lo, hi):
            folded = unicodedata.normalize("NFKD", chr(cp))
            base = "".join(c for c in folded if not unicodedata.combining(c)).lower()
            if len(base) == 1 and base.isascii() and cp not in table:
                table[cp] = base
    for cp in range(0x0300, 0x0370):  # combining diacritical marks
        table[cp] = _DROP
    return table


_TABLE = _build_table()
_LEET_FROM, _LEET_TO = "0134578@$|!+", "oieastbasiit"
_LEET = str.maketrans(_LEET_FROM, _LEET_TO)
_LEET_BYTES = bytes.maketrans(_LEET_FROM.encode(), _LEET_TO.encode())
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_SPACED = re.compile(r"(?<![a-z0-9])(?:[a-z0-9][ \t._\-*/\x00]{1,3}){3,}[a-z0-9](?![a-z0-9])")
# A cheap first look for spaced-out letters (starts on a separator, so most positions skip).
_SEP = r"[ \t._\-*/\x00]"
_SPACED_GATE = re.compile(rf"{_SEP}[a-z0-9]{_SEP}{{1,3}}[a-z0-9]{_SEP}{{1,3}}[a-z0-9]{_SEP}")
_SEPARATORS = re.compile(r"[ \t._\-*/\x00]+")
_DROPPED = re.compile("\x00")


@dataclass(frozen=True, slots=True)
class Normalized:
    """A normalized view of a text and the sorted original positions dropped from it."""

    text: str
    dropped: tuple[int, ...] = ()

    def original(self, pos: int) -> int:
        """Map an offset in the normalized text to one in the original text."""
        if not self.dropped:
            return pos
        orig = pos
        while True:
            moved = pos + bisect_right(self.dropped, orig)
            if moved == orig:
                return orig
            orig = moved

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map a normalized ``[start, end)`` span to the original text."""
        if not self.dropped:
            return start, end
        return self.original(start), self.original(end - 1) + 1


def _spaced_drops(text: str) -> list[int]:
    """Positions of the separators inside spaced-out runs; a longer gap keeps one space."""
    drops: list[int] = []
    for m in _SPACED.finditer(text):
        base = m.start()
        for gap in _SEPARATORS.finditer(m.group()):
            a, b = gap.span()
            drops.extend(range(base + a, base + (b if b - a == 1 else b - 1)))
    return drops


def normalize(text: str) -> Normalized:
    """Return the lower-case, de-obfuscated view of ``text`` with an offset map."""
    if text.isascii():
        low = text.lower()
        if not _SPACED_GATE.search(low) or not _SPACED.search(low):
            return Normalized(low)
    else:
        low = _fold(text)
    drops = _spaced_drops(low) if _SPACED_GATE.search(low) else []
    if _DROP in low:
        drops = sorted(set(drops).union(m.start() for m in _DROPPED.finditer(low)))
    if not drops:
        return Normalized(low)
    parts: list[str] = []
    prev = 0
    for i in drops:
        parts.append(low[prev:i])
        prev = i + 1
    parts.append(low[prev:])
    return Normalized("".join(parts), tuple(drops))


def _fold_char(m: re.Match[str]) -> str:
    ch = m.group()
    mapped = _TABLE.get(ord(ch), ch).lower()
    return mapped if len(mapped) == 1 else ch


def _fold(text: str) -> str:
    """Lower-case ``text`` and fold look-alikes one to one (only non-ASCII characters cost)."""
    return _NON_ASCII.sub(_fold_char, text.lower() if text.isascii() else _lower_1to1(text))


def _lower_1to1(text: str) -> str:
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def deleet(text: str) -> str:
    """Map digits and symbols written for letters (``1gn0r3``) to the letters, one to one."""
    if text.isascii():
        return text.translate(_LEET)
    # UTF-8 keeps ASCII bytes for ASCII characters only, so a byte table maps them alone.
    return (
        text.encode("utf-8", "surrogatepass")
        .translate(_LEET_BYTES)
        .decode("utf-8", "surrogatepass")
    )
