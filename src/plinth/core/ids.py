"""Injected identifiers, so tests are deterministic."""

from __future__ import annotations

import itertools
import secrets
import threading
import uuid
from typing import Protocol

__all__ = ["IdFactory", "RandomIds", "SequentialIds", "new_token"]


class IdFactory(Protocol):
    """Makes new identifiers with a short prefix saying what they name."""

    def new(self, prefix: str) -> str:
        """Return a new unique id such as ``res_1f3c...``."""
        ...


class RandomIds:
    """Random ids (uuid4) for production."""

    def new(self, prefix: str) -> str:
        """Return ``prefix_<32 hex>``."""
        return f"{prefix}_{uuid.uuid4().hex}"


class SequentialIds:
    """Predictable ids for tests: ``prefix_000001``."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def new(self, prefix: str) -> str:
        """Return the next id in sequence."""
        with self._lock:
            return f"{prefix}_{next(self._counter):06d}"


def new_token(prefix: str = "plt") -> str:
    """Return a fresh secret API token (shown once, stored only as a hash)."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"
