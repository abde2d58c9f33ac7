"""The compliance report of a team and/or environment: counts, findings, exceptions; CSV too."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from plinth.capabilities.compliance.findings import SEVERITIES, finding_as_dict
from plinth.capabilities.compliance.models import FINDING_STATES, ComplianceFinding

__all__ = ["CSV_COLUMNS", "build_report", "report_csv"]

CSV_COLUMNS = (
    "id",
    "team",
    "environment",
    "project",
    "resource",
    "pack",
    "rule",
    "severity",
    "level",
    "state",
    "message",
    "fix",
    "first_seen",
    "last_seen",
    "resolved_at",
    "remediation",
    "remediation_due",
    "remediated_at",
    "exception",
    "exception_expires",
)


def _counts(rows: Sequence[ComplianceFinding]) -> dict[str, Any]:
    by_severity = {s: 0 for s in SEVERITIES}
    by_state = {s: 0 for s in FINDING_STATES}
    matrix = {s: {t: 0 for t in FINDING_STATES} for s in SEVERITIES}
    for row in rows:
        by_state[row.state] = by_state.get(row.state, 0) + 1
        by_severity[row.severity] = by_severity.get(row.severity, 0) + 1
        matrix.setdefault(row.severity, {t: 0 for t in FINDING_STATES})[row.state] += 1
    return {"total": len(rows), "by_severity": by_severity, "by_state": by_state, "matrix": matrix}


def _exceptions(rows: Sequence[ComplianceFinding], now: datetime) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        if row.state != "excepted":
            continue
        expires = row.exception_expires
        out.append(
            {
                "exception": row.exception,
                "rule": f"{row.pack}/{row.rule}",
                "resource": row.resource,
                "environment": row.environment,
                "project": row.project,
                "team": row.team,
                "finding": row.id,
                "expires": expires.isoformat() if expires else None,
                "days_left": (expires - now).days if expires else None,
            }
        )
    return sorted(out, key=lambda e: (e["expires"] or "", e["finding"]))


def build_report(
    rows: Sequence[ComplianceFinding],
    *,
    team: str | None,
    environment: str | None,
    now: datetime,
    include_resolved: bool = False,
) -> dict[str, Any]:
    """Return the report: counts by severity and state, findings with owners, exceptions."""
    order = {s: i for i, s in enumerate(SEVERITIES)}
    listed = [r for r in rows if include_resolved or r.state != "resolved"]
    listed.sort(key=lambda r: (order.get(r.severity, 9), r.team, r.environment, r.resource, r.id))
    return {
        "team": team,
        "environment": environment,
        "generated_at": now.isoformat(),
        "counts": _counts(rows),
        "findings": [finding_as_dict(r) for r in listed],
        "exceptions": _exceptions(rows, now),
    }


def _cell(value: Any) -> str:
    """Return a CSV cell; text a spreadsheet would run as a formula is quoted with ``'``."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text[:1] in _FORMULA_STARTS else text


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def report_csv(report: dict[str, Any]) -> str:
    """Return the report's findings as CSV (one header row, one row per finding)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for item in report["findings"]:
        writer.writerow({k: _cell(item.get(k)) for k in CSV_COLUMNS})
    return buffer.getvalue()
