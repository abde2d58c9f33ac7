"""Least privilege for the local provider's service processes.

A service whose spec carries the secure defaults (``security``, injected by the
planner) starts under ``setpriv``:

- ``allowPrivilegeEscalation: false`` sets the kernel's *no new privileges* flag,
  so neither set-user-ID programs nor file capabilities can raise its privileges;
- ``runAsNonRoot: true`` while the control plane runs as root switches to the
  unprivileged user ``nobody`` (its writable volumes are handed to that user).
  That needs ``setpriv``, the user, and a data directory every user may traverse;
  when one is missing the default is reported *declared, not enforced*. A control
  plane that is not root starts its processes as its own, non-root, user.

The read-only root file system, default-deny network and TLS are declared only:
the local provider runs plain processes on this machine.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from plinth.infrastructure.providers.local.layout import Layout

__all__ = ["UNPRIVILEGED_USER", "enforced_defaults", "privilege_prefix", "unprivileged_ids"]

UNPRIVILEGED_USER = "nobody"


def _traversable(path: Path) -> bool:
    """Return whether every user may reach ``path`` (each directory has ``o+x``)."""
    for part in [path, *path.parents]:
        try:
            if not part.stat().st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def unprivileged_ids(layout: Layout) -> tuple[int, int] | None:
    """Return (uid, gid) to drop to, or None when not root or dropping cannot work here."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return None
    try:
        user = pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        return None
    if not _traversable(layout.root):
        return None
    return user.pw_uid, user.pw_gid


def enforced_defaults(layout: Layout, type_name: str) -> frozenset[str]:
    """Return the secure defaults the local provider enforces for ``type_name``."""
    if type_name == "secret":
        return frozenset({"encryptedAtRest"})
    if type_name not in ("service", "job", "model-deployment", "mlflow"):
        return frozenset()
    enforced: set[str] = set()
    if os.geteuid() != 0 or (type_name == "service" and unprivileged_ids(layout) is not None):
        enforced.add("runAsNonRoot")
    if type_name == "service" and shutil.which("setpriv") is not None:
        enforced.add("allowPrivilegeEscalation")
    return frozenset(enforced)


def privilege_prefix(layout: Layout, spec: Mapping[str, Any]) -> list[str]:
    """Return the argv prefix that starts a service with least privilege (may be empty)."""
    security = spec.get("security")
    if not isinstance(security, Mapping) or shutil.which("setpriv") is None:
        return []
    prefix: list[str] = []
    ids = unprivileged_ids(layout) if security.get("runAsNonRoot") is True else None
    if ids is not None:
        uid, gid = ids
        prefix += [f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
        _hand_over_volumes(layout, spec, uid, gid)
    if security.get("allowPrivilegeEscalation") is False:
        prefix.append("--no-new-privs")
    return ["setpriv", *prefix, "--"] if prefix else []


def _hand_over_volumes(layout: Layout, spec: Mapping[str, Any], uid: int, gid: int) -> None:
    """Give the writable volumes under the data directory to the unprivileged user."""
    for volume in spec.get("volumes") or []:
        source = Path(str(volume.get("source", "")))
        if volume.get("read_only") or not source.is_relative_to(layout.root):
            continue
        with contextlib.suppress(OSError):
            os.chown(source, uid, gid)
