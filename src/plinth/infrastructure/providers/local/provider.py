"""The ``local`` provider: realises resources on this machine, for real.

Resource types: ``service`` and ``job`` (local processes, see ``workloads``),
``postgres`` (a database on a real PostgreSQL server), ``volume`` (a directory),
``route`` (a local URL), ``model-deployment`` (an inference server, see
``serving``), ``mlflow`` (a tracking server, see ``mlflow_tracking``) and
``secret`` (a generated value, encrypted at rest, see ``secrets``) and ``vm`` (a QEMU
virtual machine, see ``vms``). Which secure
defaults it enforces is in ``least_privilege``.
Processes it starts outlive the control plane on purpose; ``stop_local_runtime``
stops all of them for one data directory.
A service or job whose spec says ``"stopped": true`` is held stopped (see
``services.hold_stopped``) and reports phase ``stopped``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, cast

from plinth.core.errors import PermanentError
from plinth.infrastructure.providers.base import (
    ChangeAction,
    Observation,
    ProviderChange,
    ProviderContext,
    Resource,
    SnapshotResult,
    Usage,
)
from plinth.infrastructure.providers.local.jobs import Jobs, as_epoch
from plinth.infrastructure.providers.local.layout import Layout
from plinth.infrastructure.providers.local.least_privilege import enforced_defaults
from plinth.infrastructure.providers.local.mlflow_tracking import MlflowServers
from plinth.infrastructure.providers.local.postgres import Postgres
from plinth.infrastructure.providers.local.routes import Routes
from plinth.infrastructure.providers.local.runtime import stop_local_runtime
from plinth.infrastructure.providers.local.secrets import Secrets
from plinth.infrastructure.providers.local.services import (
    Services,
    hold_stopped,
    stopped_observation,
)
from plinth.infrastructure.providers.local.serving import ModelDeployments
from plinth.infrastructure.providers.local.snapshots import Snapshots
from plinth.infrastructure.providers.local.specs import SCHEMAS, is_stopped, spec_digest
from plinth.infrastructure.providers.local.vm_specs import plan_vm
from plinth.infrastructure.providers.local.vms import VirtualMachines
from plinth.infrastructure.providers.local.volumes import Volumes
from plinth.infrastructure.providers.local.workloads import Workloads

__all__ = ["LocalProvider", "plan_change", "stop_local_runtime"]


class _TypeHandler(Protocol):
    def apply(self, resource: Resource, state: Mapping[str, Any]) -> Observation: ...

    def observe(self, resource: Resource, state: Mapping[str, Any]) -> Observation: ...

    def destroy(self, resource: Resource, state: Mapping[str, Any]) -> None: ...

    def usage(self, resource: Resource, state: Mapping[str, Any]) -> Usage: ...


def plan_change(desired: Resource | None, observed: Observation | None) -> ProviderChange:
    """Return the change from ``observed`` to ``desired`` (pure: it only compares)."""
    if desired is None:
        if observed is not None and (observed.exists or observed.phase != "absent"):
            return ProviderChange(ChangeAction.DELETE, ("no longer desired",))
        return ProviderChange(ChangeAction.NOOP)
    if observed is None:
        return ProviderChange(ChangeAction.CREATE, ("does not exist",))
    if is_stopped(desired.type, desired.spec):
        return _plan_stopped(desired, observed)
    if desired.type == "vm":
        return plan_vm(desired.spec, observed, spec_digest(desired.spec))
    changed = spec_digest(desired.spec) != observed.applied_digest
    if desired.type == "service" and observed.phase in ("stopped", "failed"):
        policy = str(desired.spec.get("restart") or "always")
        reasons = ["spec changed"] if changed else []
        if policy == "always" or (policy == "on-failure" and observed.phase == "failed"):
            reasons.append("process not running")
        action = ChangeAction.UPDATE if reasons else ChangeAction.NOOP
        return ProviderChange(action, tuple(reasons))
    if not observed.exists:
        return ProviderChange(ChangeAction.CREATE, ("does not exist",))
    if desired.type == "postgres":
        before = observed.state.get("spec_database") or None
        if (desired.spec.get("database") or None) != before:
            return ProviderChange(ChangeAction.REPLACE, ("database name changed",))
    if changed:
        return ProviderChange(ChangeAction.UPDATE, ("spec changed",))
    if desired.type == "job" and observed.phase != "running":
        due = as_epoch(observed.outputs.get("next_run_at"))
        if due is not None and due <= time.time():
            return ProviderChange(ChangeAction.UPDATE, ("scheduled run due",))
    return ProviderChange(ChangeAction.NOOP)


def _plan_stopped(desired: Resource, observed: Observation) -> ProviderChange:
    """Return the change for a service or job that should stay stopped."""
    if observed.phase == "absent":
        return ProviderChange(ChangeAction.CREATE, ("does not exist",))
    if observed.phase != "stopped":
        return ProviderChange(ChangeAction.UPDATE, ("stop requested",))
    if spec_digest(desired.spec) != observed.applied_digest:
        return ProviderChange(ChangeAction.UPDATE, ("spec changed",))
    return ProviderChange(ChangeAction.NOOP)


class LocalProvider:
    """Realises services, jobs, databases, volumes and routes on this machine."""

    name: ClassVar[str] = "local"

    def __init__(self, context: ProviderContext) -> None:
        self.context = context
        self.layout = Layout(context.data_dir)
        workloads = Workloads(self.layout)
        start_timeout = float(context.settings.get("start_timeout_s", 10.0))
        self.services = Services(workloads, start_timeout_s=start_timeout)
        self.jobs = Jobs(workloads)
        self._workloads = workloads
        serving_timeout = float(context.settings.get("serving_start_timeout_s", 120.0))
        self.model_deployments = ModelDeployments(self.layout, start_timeout_s=serving_timeout)
        self._postgres: Postgres | None = None
        self.secrets = Secrets(self.layout, key=context.secret_key)
        accelerator = context.settings.get("vm_accelerator")
        self.vms = VirtualMachines(self.layout, accelerator=str(accelerator or "") or None)
        self._handlers: dict[str, _TypeHandler] = {
            "service": self.services,
            "job": self.jobs,
            "volume": Volumes(self.layout),
            "route": Routes(self.layout),
            "model-deployment": self.model_deployments,
            "mlflow": MlflowServers(self.layout, start_timeout_s=serving_timeout),
            "secret": self.secrets,
            "vm": self.vms,
        }
        self.snapshots = Snapshots(  # volumes, VM disks, database backups
            self.layout,
            postgres=lambda: cast(Postgres, self._handler("postgres")),
            vms=lambda: self._handler("vm"),
            settings=context.settings,
        )

    def _handler(self, type_name: str) -> _TypeHandler:
        if type_name == "postgres":
            if self._postgres is None:
                self._postgres = Postgres(
                    self.layout,
                    secret_key=self.context.secret_key,
                    settings=self.context.settings,
                )
            return self._postgres
        handler = self._handlers.get(type_name)
        if handler is None:
            raise PermanentError(f"the local provider does not realise resource type {type_name!r}")
        return handler

    def resource_types(self) -> Mapping[str, Mapping[str, Any]]:
        """Return the JSON Schema of each resource type's resolved spec."""
        return dict(SCHEMAS)

    def enforced_defaults(self, type_name: str) -> frozenset[str]:
        """Return the secure defaults enforced for ``type_name`` (see ``least_privilege``)."""
        return enforced_defaults(self.layout, type_name)

    def rotate_secret(self, resource: Resource, state: Mapping[str, Any]) -> int:
        """Replace a ``secret`` resource's value with a new one; return its new version."""
        if resource.type != "secret":
            raise PermanentError(f"{resource.name} is a {resource.type}, not a secret")
        return self.secrets.rotate(resource)

    def plan(self, desired: Resource | None, observed: Observation | None) -> ProviderChange:
        """Compare desired with observed; no side effects."""
        return plan_change(desired, observed)

    def apply(self, resource: Resource, state: Mapping[str, Any]) -> Observation:
        """Make the resource exist as specified; idempotent and crash-safe."""
        if is_stopped(resource.type, resource.spec):
            hold_stopped(self._workloads, resource)
            return self.observe(resource, {**state, "processes": {}})
        return self._handler(resource.type).apply(resource, state)

    def observe(self, resource: Resource, state: Mapping[str, Any]) -> Observation:
        """Report the resource as it is now; no side effects."""
        observed = self._handler(resource.type).observe(resource, state)
        if is_stopped(resource.type, resource.spec):
            return stopped_observation(observed)
        return observed

    def destroy(self, resource: Resource, state: Mapping[str, Any]) -> None:
        """Remove the resource and everything it owns; succeed if already gone."""
        self._handler(resource.type).destroy(resource, state)

    def usage(self, resource: Resource, state: Mapping[str, Any]) -> Usage:
        """Return metered consumption for metering and cost."""
        return self._handler(resource.type).usage(resource, state)

    def logs(self, resource: Resource, state: Mapping[str, Any], *, tail: int = 200) -> list[str]:
        """Return the last ``tail`` lines of a workload's or model deployment's logs."""
        if resource.type == "model-deployment":
            return self.model_deployments.logs(resource, tail=tail)
        if resource.type == "vm":
            return self.vms.logs(resource, tail=tail)
        if resource.type not in ("service", "job"):
            return []
        return self._workloads.logs(resource, tail=tail)

    def requeue_after(self, resource: Resource, state: Mapping[str, Any]) -> float | None:
        """Return seconds until a scheduled job's next run, or None when nothing is scheduled."""
        if resource.type != "job" or is_stopped(resource.type, resource.spec):
            return None
        return self.jobs.requeue_after(resource, state)

    def snapshot(
        self, resource: Resource, state: Mapping[str, Any], snapshot_id: str
    ) -> SnapshotResult:
        """Copy a volume's, VM's or database's data (see ``snapshots``)."""
        return self.snapshots.snapshot(resource, state, snapshot_id)

    def restore(self, resource: Resource, state: Mapping[str, Any], location: str) -> None:
        """Put a snapshot back in place of the resource's data (see ``snapshots``)."""
        self.snapshots.restore(resource, state, location)

    def drop_snapshot(self, location: str) -> None:
        """Remove a snapshot's files."""
        self.snapshots.drop_snapshot(location)

    def close(self) -> None:
        """Release nothing: the processes and the database server outlive the control plane."""
