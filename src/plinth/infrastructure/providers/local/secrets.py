"""The ``secret`` resource type: a value the platform generates, encrypted at rest.

``apply`` generates a random value (``length`` characters, URL-safe) the first
time and keeps it afterwards; ``rotate`` replaces it with a new one and counts the
version up. The value is stored only sealed with the platform's key
(``SecretBox``) in the resource's run directory (mode 0600), and reported as the
secret output ``value``: the reconciler seals it again in the store, and workloads
get it through the placeholder ``${resources.<name>.value}`` when their processes
start. Nothing else (state, messages) ever holds it. The last ``KEEP_PREVIOUS``
replaced values stay too (sealed, output ``previous``), so the platform can still
redact them from logs written before a rotation.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from plinth.core.secrets import SecretBox
from plinth.infrastructure.providers.base import Observation, Resource, Usage
from plinth.infrastructure.providers.local.layout import Layout, read_json, write_json_atomic
from plinth.infrastructure.providers.local.specs import spec_digest, validate_spec

__all__ = ["DEFAULT_LENGTH", "KEEP_PREVIOUS", "Secrets"]

DEFAULT_LENGTH = 32
KEEP_PREVIOUS = 20
"""Replaced values kept (sealed) so logs written before a rotation stay redacted."""


def _generate(length: int) -> str:
    return secrets.token_urlsafe(length)[:length]


class Secrets:
    """Applies, observes, rotates and destroys platform-generated secrets."""

    def __init__(self, layout: Layout, *, key: bytes) -> None:
        self.layout = layout
        self._box = SecretBox(key)

    def _path(self, resource_id: str) -> Path:
        return self.layout.run_dir(resource_id) / "secret.json"

    def _write(self, resource_id: str, value: str, *, version: int, length: int) -> None:
        """Store ``value`` sealed, keeping the values it replaces (for log redaction)."""
        path = self._path(resource_id)
        stored = read_json(path)
        previous: list[str] = []
        if isinstance(stored, dict) and "sealed" in stored:
            previous = [stored["sealed"], *stored.get("previous", [])][:KEEP_PREVIOUS]
        record = {"sealed": self._box.seal(value), "version": version, "length": length}
        write_json_atomic(path, record | {"previous": previous})
        os.chmod(path, 0o600)

    def apply(self, resource: Resource, state: Mapping[str, Any]) -> Observation:
        """Generate the value unless one of the asked length exists."""
        spec = validate_spec("secret", resource.spec)
        length = int(spec.get("length") or DEFAULT_LENGTH)
        with self.layout.locked(resource.id):
            stored = read_json(self._path(resource.id))
            if not isinstance(stored, dict) or stored.get("length") != length:
                version = int(stored.get("version", 0)) + 1 if isinstance(stored, dict) else 1
                self._write(resource.id, _generate(length), version=version, length=length)
            self.layout.record_digest(resource.id, spec_digest(spec))
        return self.observe(resource, state)

    def rotate(self, resource: Resource) -> int:
        """Replace the value with a new one; return the new version."""
        spec = validate_spec("secret", resource.spec)
        length = int(spec.get("length") or DEFAULT_LENGTH)
        with self.layout.locked(resource.id):
            stored = read_json(self._path(resource.id))
            version = int(stored.get("version", 0)) + 1 if isinstance(stored, dict) else 1
            self._write(resource.id, _generate(length), version=version, length=length)
        return version

    def observe(self, resource: Resource, state: Mapping[str, Any]) -> Observation:
        """Report the value (as a secret output) and its version."""
        stored = read_json(self._path(resource.id))
        if not isinstance(stored, dict) or "sealed" not in stored:
            return Observation(exists=False, phase="absent", state={})
        version = int(stored.get("version", 1))
        return Observation(
            exists=True,
            phase="ready",
            healthy=True,
            outputs={
                "value": self._box.open(str(stored["sealed"])),
                "previous": [self._box.open(str(v)) for v in stored.get("previous", [])],
                "version": version,
            },
            secret_outputs=frozenset({"value", "previous"}),
            state={"version": version},
            applied_digest=self.layout.recorded_digest(resource.id),
        )

    def destroy(self, resource: Resource, state: Mapping[str, Any]) -> None:
        """Forget the value."""
        shutil.rmtree(self.layout.run_dir(resource.id), ignore_errors=True)

    def usage(self, resource: Resource, state: Mapping[str, Any]) -> Usage:
        """Return nothing: a secret consumes nothing metered."""
        return Usage()
