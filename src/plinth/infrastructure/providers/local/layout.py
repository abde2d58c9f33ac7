"""Where the local provider keeps things under its data directory.

<data_dir>/
  logs/<resource>/<container>.log      process output (kept after destroy)
  files/<resource>/...                 files written for a workload
  run/<resource>/                      what the provider remembers (digest, ports, exits)
  volumes/<resource>/                  volume contents
  routes/<resource>.json               the route registry
  postgres/                            the provider's own PostgreSQL cluster
  locks/<resource>.lock                one apply or destroy at a time per resource
  vms/<resource>/                      a vm's disks (<name>.qcow2), console.log, qemu.json
  egress/<netns>.json                  network namespaces of confined workloads and their relays
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from plinth.infrastructure.providers.local.specs import safe_id

__all__ = ["Layout", "read_json", "write_json_atomic"]


class Layout:
    """Paths of one data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir).resolve()

    def logs_dir(self, resource_id: str) -> Path:
        """Return the directory of the resource's log files."""
        return self.root / "logs" / safe_id(resource_id)

    def files_dir(self, resource_id: str) -> Path:
        """Return the directory where the resource's declared files are written."""
        return self.root / "files" / safe_id(resource_id)

    def run_dir(self, resource_id: str) -> Path:
        """Return the directory of the provider's own records for the resource."""
        return self.root / "run" / safe_id(resource_id)

    def volume_dir(self, resource_id: str) -> Path:
        """Return the directory that is the volume."""
        return self.root / "volumes" / safe_id(resource_id)

    def route_file(self, resource_id: str) -> Path:
        """Return the registry file of a route."""
        return self.root / "routes" / f"{safe_id(resource_id)}.json"

    def vm_dir(self, resource_id: str) -> Path:
        """Return the directory of a vm's disks, console log and QEMU record."""
        return self.root / "vms" / safe_id(resource_id)

    def postgres_dir(self) -> Path:
        """Return the directory of the provider's PostgreSQL bookkeeping."""
        return self.root / "postgres"

    def record_digest(self, resource_id: str, digest: str) -> None:
        """Remember the digest last applied (so it survives lost state and dead processes)."""
        path = self.run_dir(resource_id) / "digest"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(digest)

    def recorded_digest(self, resource_id: str) -> str | None:
        """Return the digest last applied, or None."""
        try:
            return (self.run_dir(resource_id) / "digest").read_text().strip() or None
        except OSError:
            return None

    @contextmanager
    def locked(self, resource_id: str) -> Iterator[None]:
        """Hold the resource's lock (an exclusive ``flock``) for the block."""
        path = self.root / "locks" / f"{safe_id(resource_id)}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, sort_keys=True))
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    """Return the JSON in ``path``, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
