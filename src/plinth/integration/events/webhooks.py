"""Webhooks: URL and type-filter checks, secrets, and Standard Webhooks signatures.

A signature is ``v1,`` + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}")), sent
in ``webhook-signature`` next to ``webhook-id`` and ``webhook-timestamp`` (seconds
since the epoch). The secret is ``whsec_`` + base64 of 32 random bytes; the HMAC
key is those bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from plinth.core.errors import InvalidInput

__all__ = [
    "SECRET_PREFIX",
    "check_types",
    "check_url",
    "matches",
    "new_secret",
    "sign",
    "signed_headers",
]

SECRET_PREFIX = "whsec_"
_PATTERN = re.compile(r"^[A-Za-z0-9._*?-]{1,200}$")


def check_url(url: str) -> str:
    """Return ``url`` when it is an absolute http(s) URL without credentials, else raise."""
    text = url.strip()
    if len(text) > 2000:
        raise InvalidInput("url: longer than 2000 characters")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidInput(f"url: {text!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        shown = parts.scheme or "none"
        raise InvalidInput(f"url: the scheme must be http or https, got {shown!r} in {text!r}")
    if not parts.hostname:
        raise InvalidInput(f"url: {text!r} names no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("url: credentials in the URL are refused; the signature authenticates")
    return text


def check_types(patterns: Sequence[str]) -> list[str]:
    """Return the type globs (such as ``dev.plinth.plan.*``) or raise naming the bad one."""
    chosen = [p.strip() for p in patterns] or ["*"]
    for index, pattern in enumerate(chosen):
        if not _PATTERN.match(pattern):
            raise InvalidInput(
                f"types[{index}]: {pattern!r} is not an event type or glob "
                "(letters, digits, '.', '-', '_', '*', '?')"
            )
    return chosen


def matches(patterns: Sequence[str], event_type: str) -> bool:
    """True when ``event_type`` matches one of the globs."""
    return any(fnmatchcase(event_type, p) for p in patterns)


def new_secret() -> str:
    """Return a new signing secret in the Standard Webhooks form (``whsec_...``)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``webhook-signature`` value for one message."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Return the three Standard Webhooks headers for one message."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id=msg_id, timestamp=timestamp, body=body),
    }
