"""Secrets detector: cloud and SaaS tokens by their documented shapes, keys, passwords.

Known shapes (prefixes the issuers document): AWS access key ids, GitHub and GitLab
tokens, Slack tokens and webhooks, OpenAI/Anthropic-style ``sk-`` keys, Stripe keys,
Google API keys, PEM private key blocks, JWTs. Generic ``password=…`` / ``api_key: …``
assignments and passwords in connection URLs count when the value looks random enough
(Shannon entropy, not a placeholder such as ``changeme`` or ``${VAR}``); only the value
is redacted, so ``password=[REDACTED:PASSWORD]`` still reads.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from plinth.capabilities.screens.gated import GatedPattern, GatedSet
from plinth.capabilities.screens.verdicts import Finding, Kind

__all__ = ["SecretsDetector", "entropy"]

_G = GatedPattern.of
# Known token shapes; each runs over the whole text only when one of its literals occurs.
_KNOWN = [
    _G("aws-access-key", r"(?:AKIA|ASIA|ABIA|ACCA|AIDA|AROA|AGPA)[A-Z2-7]{16}(?![A-Za-z0-9])", 0.95,
       ("AKIA", "ASIA", "ABIA", "ACCA", "AIDA", "AROA", "AGPA"), window=None),
    _G("github-token", r"gh[pousr]_[A-Za-z0-9]{36,251}\b|github_pat_[A-Za-z0-9_]{60,255}\b", 0.98,
       ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"), window=None),
    _G("gitlab-token", r"gl(?:pat|dt|rt|ptt|cbt|soat)-[A-Za-z0-9_\-]{20,64}\b", 0.95,
       ("glpat-", "gldt-", "glrt-", "glptt-", "glcbt-", "glsoat-"), window=None),
    _G("slack-token", r"xox[abposr]-(?:\d+-)?[A-Za-z0-9-]{10,250}\b", 0.95, ("xox",),
       window=None),
    _G("slack-webhook", r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9_/]{20,120}",
       0.95, ("hooks.slack.com",), window=None),
    _G("api-key", r"sk-(?:proj-|svcacct-|admin-|ant-(?:api\d\d-)?)?[A-Za-z0-9_\-]{32,200}\b", 0.9,
       ("sk-",), window=None),
    _G("api-key", r"(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{20,99}\b", 0.9, ("_live_", "_test_"),
       window=None),
    _G("api-key", r"AIza[0-9A-Za-z_\-]{35}(?![A-Za-z0-9_\-])", 0.9, ("AIza",), window=None),
    _G("api-key", r"hf_[A-Za-z0-9]{34,40}\b", 0.9, ("hf_",), window=None),
    # possessive body (base64, blanks, the PEM headers of encrypted keys): linear
    _G("private-key",
       r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
       r"(?:[A-Za-z0-9+/=\s]|Proc-Type:[^\n]*|DEK-Info:[^\n]*|Comment:[^\n]*)*+"
       r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)?",
       0.99, ("PRIVATE KEY",), window=None),
    _G("jwt", r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", 0.9, ("eyJ",),
       window=None),
]  # fmt: skip
_KNOWN_SET = GatedSet(_KNOWN)
# From a key word (found by substring search) to the end of an assignment's value.
_ASSIGN_AT = re.compile(
    r"[A-Za-z0-9_.-]{0,40}[\"']?\s*(?::=|=>|[:=])\s*"
    r"(?:\"(?P<dq>[^\"\s]{6,200})\"|'(?P<sq>[^'\s]{6,200})'|(?P<bare>[^\s\"',;&)}\]]{6,200}))"
)
_KEY_WORDS = (
    ("pass", "password"), ("pwd", "password"), ("secret", "secret"), ("token", "token"),
    ("api_key", "api-key"), ("apikey", "api-key"), ("api-key", "api-key"),
    ("access_key", "api-key"), ("private_key", "secret"), ("credential", "secret"),
)  # fmt: skip
_BEARER = re.compile(
    r"(?i)\bauthorization\s*[:=]\s*\"?(?:bearer|basic|token)\s+(?P<v>[A-Za-z0-9._~+/=-]{12,})"
)
_URL_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.-]{1,20}://[^\s:/@]{1,64}:(?P<v>[^\s@/]{3,128})@")
_PLACEHOLDER = re.compile(
    r"(?i)^(?:\$\{?[A-Za-z_]|\{\{|<[^>]*>?$|%\(|x{4,}|\*{3,}|\.{3,}|changeme|change_me|password|"
    r"secret|example|redacted|your[_-]|placeholder|dummy|test(?:ing)?$|null|none|true|false|"
    r"undefined|env\(|os\.environ|getenv|process\.env|settings\.|self\.|config\.|\[redacted)"
)
_HINTS = ("pass", "pwd", "secret", "key", "token", "credential", "://", "authorization")


def entropy(value: str) -> float:
    """Return the Shannon entropy of ``value`` in bits per character."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


# Values that are names, not secrets: words joined by separators, calls, paths, URLs.
_WORDS = re.compile(
    r"^[A-Za-z]+(?:[-_.: ][A-Za-z]+)*$|^[A-Za-z_][A-Za-z0-9_.]*\(|^[./~]|^[a-z][a-z0-9+.-]*://"
)


def _random_enough(value: str) -> bool:
    if len(value) < 8 or _PLACEHOLDER.match(value) or _WORDS.match(value):
        return False
    classes = sum(
        (any(c.islower() for c in value), any(c.isupper() for c in value),
         any(c.isdigit() for c in value), any(not c.isalnum() for c in value))
    )  # fmt: skip
    return entropy(value) >= 2.8 and classes >= 2


class SecretsDetector:
    """Finds credentials (a ``Detector``; its findings' detector is ``secrets``)."""

    name = "secrets"

    def find(self, text: str, *, kind: Kind = "prompt") -> Sequence[Finding]:
        """Return the tokens, keys and password values in ``text``."""
        out: list[Finding] = []
        for pattern, m in _KNOWN_SET.matches(text):
            out.append(Finding(self.name, pattern.category, m.start(), m.end(), pattern.score))
        lowered = text.lower()
        if not any(h in lowered for h in _HINTS):
            return out
        taken = [(f.start, f.end) for f in out]
        for word, category in _KEY_WORDS:
            pos = lowered.find(word)
            while pos >= 0:
                hit = _ASSIGN_AT.match(text, pos + len(word))
                if hit:
                    group = "dq" if hit.group("dq") else "sq" if hit.group("sq") else "bare"
                    self._value(out, taken, hit, group, category, 0.8)
                pos = lowered.find(word, pos + len(word))
        for m in _BEARER.finditer(text):
            self._value(out, taken, m, "v", "bearer-token", 0.85)
        for m in _URL_PASSWORD.finditer(text):
            self._value(out, taken, m, "v", "password", 0.85, words_ok=True)
        return out

    def _value(
        self,
        out: list[Finding],
        taken: list[tuple[int, int]],
        m: re.Match[str],
        group: str,
        category: str,
        score: float,
        *,
        words_ok: bool = False,
    ) -> None:
        value = m.group(group)
        start, end = m.span(group)
        if any(a < end and start < b for a, b in taken):
            return
        if not (words_ok and not _PLACEHOLDER.match(value)) and not _random_enough(value):
            return
        out.append(Finding(self.name, category, start, end, score))
        taken.append((start, end))
