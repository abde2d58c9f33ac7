"""Signed agent tokens: Ed25519 keys, signing and verification (JWT, ``EdDSA``).

A key's id (``kid``) is its RFC 7638 thumbprint, so it names the key material
itself: public keys are cached in memory by kid after their first use, and a
verification needs no database read for the key and never decrypts anything.
A token whose signature verified once is remembered (by its exact text, a
bounded map), so an agent that reuses its token costs no second signature check;
the key, audience and time checks still run on every call.
Private keys are stored sealed with the platform's SecretBox and opened only
to sign.

Verification refuses, in this order and each with its own message: a malformed
token, an unknown (or expired) signing key, a bad signature, a wrong issuer or
audience, an expired token and a token not yet valid. Whether the token was
revoked and whether its agent is still enabled is the service's business
(``service.authenticate_agent``), checked in the database on every request.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from plinth.capabilities.agents.models import AgentSigningKeyRow
from plinth.capabilities.agents.spec import MAX_TOKEN_TTL_SECONDS
from plinth.core.clock import Clock
from plinth.core.errors import Unauthenticated
from plinth.core.secrets import SecretBox

__all__ = [
    "ALGORITHM",
    "ISSUER",
    "LEEWAY_SECONDS",
    "MAX_TOKEN_BYTES",
    "Claims",
    "current_signing_key",
    "forget_keys",
    "key_id",
    "looks_like_jwt",
    "new_signing_key",
    "retire_signing_keys",
    "sign",
    "verify",
]

ISSUER = "plinth"
ALGORITHM = "EdDSA"
LEEWAY_SECONDS = 5
"""Clock skew tolerated on ``exp`` and ``nbf`` between the replicas that issue and verify."""
MAX_TOKEN_BYTES = 8192

_JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
_NO_PYJWT_TIME_CHECKS: Any = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
    "verify_sub": False,
    "verify_jti": False,
    "require": [],
}


@dataclass(frozen=True)
class _PublicKey:
    key: Ed25519PublicKey
    expires_at: datetime | None


_public: dict[str, _PublicKey] = {}
_private: dict[str, Ed25519PrivateKey] = {}
_verified: dict[str, Claims] = {}
"""Tokens whose signature already verified (by exact text): an agent reuses its token."""
_VERIFIED_MAX = 4096
_lock = threading.Lock()


@dataclass(frozen=True)
class Claims:
    """The verified claims of an agent token."""

    kid: str
    subject: str
    audience: str
    jti: str
    scopes: tuple[str, ...]
    issued_at: datetime
    not_before: datetime
    expires_at: datetime

    @property
    def agent(self) -> str:
        """Return the agent name of the subject ``agent:<name>``."""
        return self.subject.removeprefix("agent:")


def looks_like_jwt(token: str) -> bool:
    """True if ``token`` has the shape of a JWT: three base64url segments joined by dots."""
    return len(token) <= MAX_TOKEN_BYTES and _JWT_SHAPE.match(token) is not None


def key_id(public_key: Ed25519PublicKey) -> str:
    """Return the RFC 7638 JWK thumbprint of an Ed25519 public key (base64url, no padding)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def new_signing_key(session: Session, *, box: SecretBox, clock: Clock) -> AgentSigningKeyRow:
    """Create, store and return a new Ed25519 signing key (private half sealed)."""
    private = Ed25519PrivateKey.generate()
    public = private.public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    row = AgentSigningKeyRow(
        kid=key_id(public),
        public_pem=pem,
        private_encrypted=box.seal(private_pem),
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    with _lock:
        _private[row.kid] = private
        _public[row.kid] = _PublicKey(public, None)
    return row


def current_signing_key(session: Session, *, box: SecretBox, clock: Clock) -> AgentSigningKeyRow:
    """Return the key that signs new tokens, creating the first one if there is none."""
    row = session.scalar(
        select(AgentSigningKeyRow)
        .where(AgentSigningKeyRow.retires_at.is_(None))
        .order_by(AgentSigningKeyRow.created_at.desc(), AgentSigningKeyRow.kid)
        .limit(1)
    )
    return row if row is not None else new_signing_key(session, box=box, clock=clock)


def retire_signing_keys(session: Session, *, clock: Clock) -> list[str]:
    """Stop signing with every current key; each keeps verifying until the longest TTL passes."""
    now = clock.now()
    expires = now + timedelta(seconds=MAX_TOKEN_TTL_SECONDS + LEEWAY_SECONDS)
    retired = []
    for row in session.scalars(
        select(AgentSigningKeyRow).where(AgentSigningKeyRow.retires_at.is_(None))
    ):
        row.retires_at, row.expires_at = now, expires
        retired.append(row.kid)
        with _lock:
            cached = _public.get(row.kid)
            if cached is not None:
                _public[row.kid] = _PublicKey(cached.key, expires)
    session.flush()
    return retired


def forget_keys() -> None:
    """Empty the in-memory key caches (they refill from the store on use)."""
    with _lock:
        _public.clear()
        _private.clear()
        _verified.clear()


def _private_key(row: AgentSigningKeyRow, box: SecretBox) -> Ed25519PrivateKey:
    cached = _private.get(row.kid)
    if cached is not None:
        return cached
    loaded = serialization.load_pem_private_key(box.open(row.private_encrypted).encode(), None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise TypeError(f"signing key {row.kid} is not an Ed25519 key")
    with _lock:
        _private[row.kid] = loaded
    return loaded


def sign(
    row: AgentSigningKeyRow,
    *,
    box: SecretBox,
    agent: str,
    audience: str,
    jti: str,
    scopes: tuple[str, ...],
    issued_at: datetime,
    ttl_seconds: int,
) -> str:
    """Return a signed token for ``agent`` (claims iss, sub, aud, exp, iat, nbf, jti, scope)."""
    iat = int(issued_at.timestamp())
    claims = {
        "iss": ISSUER,
        "sub": f"agent:{agent}",
        "aud": audience,
        "iat": iat,
        "nbf": iat,
        "exp": iat + ttl_seconds,
        "jti": jti,
        "scope": " ".join(scopes),
    }
    return jwt.encode(claims, _private_key(row, box), algorithm=ALGORITHM, headers={"kid": row.kid})


def _public_key(session: Session, kid: str) -> _PublicKey | None:
    cached = _public.get(kid)
    if cached is not None:
        return cached
    row = session.get(AgentSigningKeyRow, kid)
    if row is None:
        return None
    loaded = serialization.load_pem_public_key(row.public_pem.encode())
    if not isinstance(loaded, Ed25519PublicKey):
        return None
    entry = _PublicKey(loaded, row.expires_at)
    with _lock:
        _public[kid] = entry
    return entry


def _header(token: str) -> str:
    """Check the token's shape and header; return its kid."""
    if not looks_like_jwt(token):
        raise Unauthenticated(
            "malformed token: an agent token is a JWT (three base64url segments joined by '.')"
        )
    segment = token[: token.index(".")]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except ValueError as exc:  # also binascii.Error and UnicodeDecodeError
        raise Unauthenticated("malformed token: the header is not base64url JSON") from exc
    if not isinstance(header, dict):
        raise Unauthenticated("malformed token: the header is not a JSON object")
    if header.get("alg") != ALGORITHM:
        raise Unauthenticated(
            f"malformed token: algorithm {header.get('alg')!r} is not accepted (only {ALGORITHM})"
        )
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Unauthenticated("malformed token: the header names no signing key ('kid')")
    return kid


def _instant(claims: dict[str, Any], name: str) -> datetime:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unauthenticated(f"malformed token: claim {name!r} is missing or not a number")
    return datetime.fromtimestamp(value, UTC)


def _claims(kid: str, payload: dict[str, Any]) -> Claims:
    texts = {}
    for name in ("iss", "sub", "aud", "jti", "scope"):
        value = payload.get(name)
        if not isinstance(value, str):
            raise Unauthenticated(f"malformed token: claim {name!r} is missing or not a string")
        texts[name] = value
    if texts["iss"] != ISSUER:
        raise Unauthenticated(f"the token was issued by {texts['iss']!r}, not {ISSUER!r}")
    if not texts["sub"].startswith("agent:"):
        raise Unauthenticated(f"the token's subject {texts['sub']!r} is not an agent")
    return Claims(
        kid=kid,
        subject=texts["sub"],
        audience=texts["aud"],
        jti=texts["jti"],
        scopes=tuple(texts["scope"].split()),
        issued_at=_instant(payload, "iat"),
        not_before=_instant(payload, "nbf"),
        expires_at=_instant(payload, "exp"),
    )


def _signed_claims(token: str, kid: str, key: Ed25519PublicKey) -> Claims:
    """Check the signature and parse the claims; remember the token once it verified."""
    try:
        decoded = jwt.decode_complete(
            token, key, algorithms=[ALGORITHM], options=_NO_PYJWT_TIME_CHECKS
        )
    except jwt.InvalidSignatureError as exc:
        raise Unauthenticated(
            "bad signature: the token was altered or not signed by this platform"
        ) from exc
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"malformed token: {exc}") from exc
    payload = decoded["payload"]
    claims = _claims(kid, payload if isinstance(payload, dict) else {})
    with _lock:
        if len(_verified) >= _VERIFIED_MAX:
            del _verified[next(iter(_verified))]
        _verified[token] = claims
    return claims


def verify(session: Session, token: str, *, audience: str, clock: Clock) -> Claims:
    """Verify a token's signature, audience and times; raise Unauthenticated saying what failed."""
    kid = _header(token)
    now = clock.now()
    key = _public_key(session, kid)
    if key is None:
        raise Unauthenticated(
            f"unknown signing key {kid!r}: the token was not issued by this platform"
        )
    if key.expires_at is not None and now >= key.expires_at:
        raise Unauthenticated(f"the token's signing key {kid!r} has expired")
    claims = _verified.get(token)
    if claims is None:
        claims = _signed_claims(token, kid, key.key)
    if claims.audience != audience:
        raise Unauthenticated(
            f"wrong audience: the token is for {claims.audience!r}, but this endpoint "
            f"expects {audience!r}; ask for a token with audience {audience!r}"
        )
    leeway = timedelta(seconds=LEEWAY_SECONDS)
    if now >= claims.expires_at + leeway:
        raise Unauthenticated(
            f"the token expired at {claims.expires_at.isoformat()}; ask for a new one"
        )
    if now + leeway < claims.not_before:
        raise Unauthenticated(f"the token is not valid before {claims.not_before.isoformat()}")
    return claims
