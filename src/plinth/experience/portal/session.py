"""Portal sessions: a cookie signed with the platform's key (HMAC-SHA256): who, and a CSRF token.

The cookie is ``HttpOnly`` and ``SameSite=Lax``; its payload is readable but not forgeable.
Every visitor gets one (anonymous until login) so that the login form has a CSRF token too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, replace

__all__ = ["COOKIE", "MAX_AGE_S", "PortalSession", "SessionSigner"]

COOKIE = "plinth_portal"
MAX_AGE_S = 8 * 3600


@dataclass(frozen=True)
class PortalSession:
    """What the cookie carries: the signed-in user (or none), a CSRF token, when issued."""

    user: str | None
    csrf: str
    issued: float

    @classmethod
    def anonymous(cls) -> PortalSession:
        """Return a fresh session with nobody signed in."""
        return cls(user=None, csrf=secrets.token_urlsafe(24), issued=time.time())

    def signed_in(self, user: str) -> PortalSession:
        """Return a new session for ``user`` (a new CSRF token: no fixation)."""
        return replace(self, user=user, csrf=secrets.token_urlsafe(24), issued=time.time())

    def csrf_ok(self, token: str | None) -> bool:
        """True if a form's CSRF token matches this session's."""
        return bool(token) and hmac.compare_digest(self.csrf, token or "")


class SessionSigner:
    """Sign and verify session cookies with a key derived from the platform's secret key."""

    def __init__(self, secret_key: bytes, *, max_age_s: int = MAX_AGE_S) -> None:
        self._key = hmac.new(secret_key, b"plinth-portal-session", hashlib.sha256).digest()
        self.max_age_s = max_age_s

    def _mac(self, payload: bytes) -> str:
        digest = hmac.new(self._key, payload, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def dumps(self, session: PortalSession) -> str:
        """Return the cookie value of a session."""
        data = {"u": session.user, "c": session.csrf, "t": round(session.issued, 3)}
        payload = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
        return f"{payload}.{self._mac(payload.encode())}"

    def loads(self, value: str | None) -> PortalSession | None:
        """Return the session of a cookie value, or None if absent, forged or expired."""
        if not value or value.count(".") != 1:
            return None
        payload, mac = value.split(".")
        if not hmac.compare_digest(mac, self._mac(payload.encode())):
            return None
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            data = json.loads(raw)
            session = PortalSession(user=data["u"], csrf=str(data["c"]), issued=float(data["t"]))
        except (ValueError, KeyError, TypeError):
            return None
        if session.user is not None and not isinstance(session.user, str):
            return None
        if time.time() - session.issued > self.max_age_s:
            return None
        return session
