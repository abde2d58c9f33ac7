"""The ``volume`` resource type: a directory under ``<data_dir>/volumes``."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from plinth.infrastructure.providers.base import Observation, Resource, Usage
from plinth.infrastructure.providers.local.layout import Layout
from plinth.infrastructure.providers.local.specs import spec_digest, validate_spec

__all__ = ["Volumes", "disk_bytes"]


def disk_bytes(root: Path) -> int:
    """Return the total size of the regular files under ``root``."""
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total


class Volumes:
    """Applies, observes and destroys volumes."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def apply(self, resource: Resource, state: Mapping[str, Any]) -> Observation:
        """Create the directory (keeping what it holds)."""
        spec = validate_spec("volume", resource.spec)
        self.layout.volume_dir(resource.id).mkdir(parents=True, exist_ok=True)
        self.layout.record_digest(resource.id, spec_digest(spec))
        return self.observe(resource, state)

    def observe(self, resource: Resource, state: Mapping[str, Any]) -> Observation:
        """Report whether the directory exists."""
        path = self.layout.volume_dir(resource.id)
        if not path.is_dir():
            return Observation(exists=False, phase="absent", state={})
        return Observation(
            exists=True,
            phase="ready",
            healthy=True,
            outputs={"path": str(path), "source": str(path)},
            state={"path": str(path)},
            applied_digest=self.layout.recorded_digest(resource.id),
        )

    def destroy(self, resource: Resource, state: Mapping[str, Any]) -> None:
        """Remove the directory and everything in it."""
        shutil.rmtree(self.layout.volume_dir(resource.id), ignore_errors=True)
        shutil.rmtree(self.layout.run_dir(resource.id), ignore_errors=True)

    def usage(self, resource: Resource, state: Mapping[str, Any]) -> Usage:
        """Return the bytes stored in the volume."""
        return Usage(disk_bytes=disk_bytes(self.layout.volume_dir(resource.id)))
