"""Upgrading an application from one template version to another by three-way merge.

The base is the old version rendered without overrides, ``ours`` the old
version with the application's overrides, ``theirs`` the new version without
them. Workloads merge by name; a workload the new version adds or drops counts
as a change on the template's side.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from plinth.capabilities.templates.bounds import BoundViolation
from plinth.capabilities.templates.merge import MISSING, MergeConflict, merge_values
from plinth.capabilities.templates.model import TemplateVersion
from plinth.capabilities.templates.render import apply_overrides, render, template_context

__all__ = ["UpgradeResult", "upgrade"]


@dataclass(frozen=True)
class UpgradeResult:
    """The merged workloads of an upgrade, with its conflicts and bound violations."""

    template: str
    from_version: str
    to_version: str
    workloads: list[dict[str, Any]]
    parameters: dict[str, Any]
    conflicts: list[MergeConflict] = field(default_factory=list)
    violations: list[BoundViolation] = field(default_factory=list)


def _by_name(workloads: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(workload["metadata"]["name"]): workload for workload in workloads}


def upgrade(
    old: TemplateVersion,
    new: TemplateVersion,
    *,
    app: str,
    environment: str,
    project: str,
    parameters: dict[str, Any],
    overrides: list[dict[str, Any]],
) -> UpgradeResult:
    """Merge an application's overrides into a new template version; report conflicts.

    Parameters are validated against the new version's schema (SpecError if it no
    longer accepts them); overrides are checked against the new version's bounds.
    """
    where = {"app": app, "environment": environment, "project": project}
    base = _by_name(render(old, **where, parameters=parameters, overrides=[]).workloads)
    ours = _by_name(render(old, **where, parameters=parameters, overrides=overrides).workloads)
    theirs_rendering = render(new, **where, parameters=parameters, overrides=[])
    theirs = _by_name(theirs_rendering.workloads)
    merged: list[dict[str, Any]] = []
    conflicts: list[MergeConflict] = []
    for name in [*theirs, *(name for name in ours if name not in theirs)]:
        result = merge_values(
            base.get(name, MISSING), ours.get(name, MISSING), theirs.get(name, MISSING)
        )
        conflicts.extend(dataclasses.replace(c, workload=name) for c in result.conflicts)
        if result.merged is not MISSING:
            merged.append(result.merged)
    checked = copy.deepcopy(theirs_rendering.workloads)
    context = template_context(**where, parameters=theirs_rendering.parameters)
    violations = apply_overrides(
        new, context=context, workloads=checked, overrides=overrides, missing_ok=True
    )
    return UpgradeResult(
        template=new.name,
        from_version=old.version,
        to_version=new.version,
        workloads=merged,
        parameters=theirs_rendering.parameters,
        conflicts=conflicts,
        violations=violations,
    )
