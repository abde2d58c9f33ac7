"""Snapshots and backups: the record of each copy of a volume, VM disks or a database.

The copies themselves live with the provider that made them; ``models`` holds the
table, ``service`` the queries. ``plinth.orchestration.snapshots`` is the entry point.
"""

from __future__ import annotations

from plinth.capabilities.snapshots.models import KINDS, STATUSES, SnapshotRecord

__all__ = ["KINDS", "STATUSES", "SnapshotRecord"]
