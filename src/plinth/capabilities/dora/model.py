"""The inputs of DORA telemetry: deployments and health signals, as plain data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["Deployment", "HealthSignal", "Outcome"]


@dataclass(frozen=True)
class Deployment:
    """One applied plan that changed a running thing (its digest is its id).

    ``running_at``: when every resource the plan changed was realised by the
    reconciler afterwards (None while one is not). ``rolled_back_at``: when a later
    apply put back an earlier version of what this one changed.
    """

    id: str
    team: str
    environment: str
    project: str
    applied_at: datetime
    commit_sha: str | None = None
    commit_time: datetime | None = None
    running_at: datetime | None = None
    rolled_back_at: datetime | None = None
    is_rollback: bool = False


@dataclass(frozen=True)
class HealthSignal:
    """A resource of (environment, project) turned unhealthy (failed) or healthy (running)."""

    environment: str
    project: str
    at: datetime
    healthy: bool
    reason: str = ""
    resource: str = ""


@dataclass(frozen=True)
class Outcome:
    """What happened after one deployment: when it failed and when service was restored."""

    deployment: Deployment
    failed_at: datetime | None
    restored_at: datetime | None
    cause: str = ""

    @property
    def failed(self) -> bool:
        """True when the deployment caused a failure (rollback or failing health)."""
        return self.failed_at is not None
