"""The newest audit records, read newest first with a bounded query.

The API pages the log oldest first (``GET /api/v1/audit``); a dashboard wants its end, so
the portal reads it in the other direction (same records, same shape, no walk through
the whole history).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from plinth.capabilities.audit import service as audit
from plinth.capabilities.audit.models import AuditRecord
from plinth.orchestration.platform import Platform

__all__ = ["newest_records"]


def newest_records(
    platform: Platform, *, count: int, actions: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Return the newest ``count`` audit records (only these actions when given), newest first."""
    query = select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(count)
    if actions is not None:
        query = query.where(AuditRecord.action.in_(list(actions)))
    with platform.db.read() as session:
        return [audit.record_as_dict(r) for r in session.scalars(query)]
