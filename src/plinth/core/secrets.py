"""The platform's secret key and authenticated encryption of secrets at rest."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from plinth.core.errors import PlinthError

__all__ = ["SecretBox", "load_or_create_key"]


def load_or_create_key(path: Path) -> bytes:
    """Return the 32-byte key in ``path``, creating it (mode 0600) on first use."""
    if path.exists():
        raw = path.read_bytes().strip()
        return base64.urlsafe_b64decode(raw)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(base64.urlsafe_b64encode(key))
    return key


class SecretBox:
    """Encrypts small secrets (Fernet: AES-128-CBC + HMAC-SHA256) with a derived key."""

    def __init__(self, key: bytes) -> None:
        derived = hmac.new(key, b"plinth/secret-box/v1", hashlib.sha256).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, plaintext: str) -> str:
        """Return the ciphertext of ``plaintext`` as text."""
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, ciphertext: str) -> str:
        """Return the plaintext, or raise PlinthError if the data was tampered with."""
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise PlinthError(
                "a stored secret could not be decrypted (wrong key or tampered)"
            ) from exc
