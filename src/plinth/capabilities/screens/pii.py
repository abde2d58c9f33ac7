"""PII detector: e-mail addresses, phone numbers, payment cards, IBANs, US SSNs, IP addresses.

Payment cards must pass the Luhn check and start with a known issuer prefix; IBANs must
have their country's length and pass the ISO 13616 mod-97 check; SSNs follow the SSA's
rules (no 000/666/9xx area, no 00 group, no 0000 serial) and need their dashes or
spaces; phone numbers need a ``+`` country code or the North American
``(555) 123-4567`` / ``555-123-4567`` shape. Each family has a cheap pre-check (an ``@``,
enough digits) so text without it costs one scan.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from plinth.capabilities.screens.verdicts import Finding, Kind

__all__ = ["IBAN_LENGTHS", "PiiDetector", "iban_valid", "luhn_valid"]

# ISO 13616 lengths of the IBAN registry's countries (SWIFT IBAN registry).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)
_PHONE = re.compile(
    r"(?<![\w+.-])(?:"
    r"\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}"
    r"|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}"
    r"|\d{3}[.-]\d{3}[.-]\d{4}"
    r")(?![\w.-]*\d)"
)
_CARD = re.compile(r"(?<![\w.-])(?:\d[ -]?){12,18}\d(?![\w-])")
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|3[068]|6011|64[4-9]|65|35|62)")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{1,4}){2,8}(?![A-Za-z0-9])")
_SSN = re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\w-])")
_IPV4 = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    r"(?![\w/]|\.\d)"
)
_VERSIONISH = re.compile(
    r"(?:v|version|ver\.?|release|chapter|section|sec\.|figure|fig\.|table|step|clause|rule|§)\s*$",
    re.IGNORECASE,
)
_DIGITS = re.compile(r"\d")
# A run of digits with the separators numbers are written with: every numeric pattern
# runs only inside such runs, which are rare in prose (one pass over the text).
_NUMERIC_RUN = re.compile(r"[+(\d](?<![\w.+(-][+(\d])[\d ().+-]{5,}\d")


def luhn_valid(digits: str) -> bool:
    """True when the string of digits passes the Luhn (mod 10) check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """True when ``iban`` (spaces allowed) has its country's length and passes mod 97."""
    compact = iban.replace(" ", "").upper()
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum():
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


class PiiDetector:
    """Finds personal data (a ``Detector``; its findings' detector is ``pii``)."""

    name = "pii"

    def find(self, text: str, *, kind: Kind = "prompt") -> Sequence[Finding]:
        """Return the e-mails, phones, cards, IBANs, SSNs and IPv4 addresses in ``text``."""
        out: list[Finding] = []
        if "@" in text:
            out.extend(self._span("email", m, 0.95) for m in _EMAIL.finditer(text))
        for m in _IBAN.finditer(text):
            if iban_valid(m.group()):
                out.append(self._span("iban", m, 0.95))
        for run in _NUMERIC_RUN.finditer(text):  # two more characters for the look-aheads
            self._numbers(text, run.start(), min(len(text), run.end() + 2), out)
        return out

    def _numbers(self, text: str, a: int, b: int, out: list[Finding]) -> None:
        cards: list[tuple[int, int]] = []
        for m in _CARD.finditer(text, a, b):
            digits = m.group().replace(" ", "").replace("-", "")
            if 13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) and luhn_valid(digits):
                out.append(self._span("credit-card", m, 0.95))
                cards.append(m.span())
        out.extend(self._span("us-ssn", m, 0.85) for m in _SSN.finditer(text, a, b))
        for m in _PHONE.finditer(text, a, b):
            if not any(x <= m.start() < y for x, y in cards):
                count = len(_DIGITS.findall(m.group()))
                if 8 <= count <= 15:
                    out.append(self._span("phone", m, 0.8))
        for m in _IPV4.finditer(text, a, b):
            if not _VERSIONISH.search(text, max(0, m.start() - 10), m.start()):
                out.append(self._span("ip-address", m, 0.7))

    def _span(self, category: str, m: re.Match[str], score: float) -> Finding:
        return Finding(self.name, category, m.start(), m.end(), score)
