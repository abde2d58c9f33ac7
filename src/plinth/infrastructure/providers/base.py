"""The typed contract every provider implements.

A provider realises resources of the types it declares. The orchestration layer
calls it only through this protocol; it never knows how a provider works.

Rules every provider keeps:

- ``plan`` has no side effects: it only compares.
- ``apply`` only executes what it is given, is idempotent, and is safe to call
  again after a crash at any point (it must find and adopt what an earlier,
  interrupted call created, never create a second copy).
- ``observe`` reports the world as it is, not as the store remembers it.
- ``destroy`` leaves nothing behind and succeeds when there is nothing to destroy.
- Failures raise ``TemporaryError`` (retry later) or ``PermanentError`` (the spec
  must change); any other exception is treated as temporary.
- Secret values (passwords, tokens) never appear in ``Observation.state`` or in
  messages; secret outputs are named in ``secret_outputs``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

__all__ = [
    "ChangeAction",
    "LogSource",
    "Observation",
    "Provider",
    "ProviderChange",
    "ProviderContext",
    "Resource",
    "SnapshotResult",
    "Snapshotter",
    "Usage",
]


class ChangeAction(StrEnum):
    """What a plan will do to one resource."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    NOOP = "no-op"


@dataclass(frozen=True)
class ProviderContext:
    """What the platform gives a provider when it is built."""

    data_dir: Path
    secret_key: bytes
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Resource:
    """One resource as the provider sees it: identity plus resolved desired spec.

    ``spec`` has every placeholder resolved, so it may hold secret values (for
    example a database password in an environment variable): never log it.
    """

    id: str
    type: str
    name: str
    environment: str
    project: str
    spec: Mapping[str, Any]


@dataclass
class Observation:
    """What a provider sees of one resource."""

    exists: bool
    phase: str = "absent"
    healthy: bool | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: frozenset[str] = frozenset()
    state: dict[str, Any] = field(default_factory=dict)
    applied_digest: str | None = None
    message: str = ""


@dataclass(frozen=True)
class ProviderChange:
    """The provider's verdict on how to get from observed to desired."""

    action: ChangeAction
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Usage:
    """Metered consumption of one resource since it was created."""

    cpu_seconds: float = 0.0
    memory_bytes: int = 0
    disk_bytes: int = 0
    wall_seconds: float = 0.0


@runtime_checkable
class Provider(Protocol):
    """Realises resources of the types it declares."""

    name: ClassVar[str]

    def resource_types(self) -> Mapping[str, Mapping[str, Any]]:
        """Return a JSON Schema for the resolved spec of each resource type handled.

        Returns:
            ``{type_name: json_schema}``.
        """
        ...

    def plan(self, desired: Resource | None, observed: Observation | None) -> ProviderChange:
        """Compare desired with observed; no side effects.

        Args:
            desired: the resource as it should be, or None when it should not exist.
            observed: the last observation, or None when nothing was ever observed.

        Returns:
            the action needed and why (``replace`` when an update cannot be done in place).
        """
        ...

    def apply(self, resource: Resource, state: Mapping[str, Any]) -> Observation:
        """Make the resource exist as specified; idempotent and crash-safe.

        Args:
            resource: the resolved desired resource.
            state: the ``Observation.state`` last recorded (may be empty or stale
                after a crash: the provider must recover from the world itself).

        Returns:
            the observation after applying.

        Raises:
            TemporaryError: try again later.
            PermanentError: will not work until the spec changes.
        """
        ...

    def observe(self, resource: Resource, state: Mapping[str, Any]) -> Observation:
        """Report the resource as it is now; no side effects."""
        ...

    def destroy(self, resource: Resource, state: Mapping[str, Any]) -> None:
        """Remove the resource and everything it owns; succeed if already gone."""
        ...

    def usage(self, resource: Resource, state: Mapping[str, Any]) -> Usage:
        """Return metered consumption for metering and cost."""
        ...


@runtime_checkable
class LogSource(Protocol):
    """Optional ability: providers that capture logs implement this too."""

    def logs(self, resource: Resource, state: Mapping[str, Any], *, tail: int = 200) -> list[str]:
        """Return the last ``tail`` lines of the resource's logs."""
        ...


@dataclass(frozen=True)
class SnapshotResult:
    """Where a provider put a snapshot of one resource, and how big it is."""

    kind: str  # "volume", "vm-disk" or "postgres-backup"
    location: str
    size_bytes: int
    consistency: str = "consistent"  # or "crash-consistent"


@runtime_checkable
class Snapshotter(Protocol):
    """Optional ability: providers that can copy a resource's data and put it back."""

    def snapshot(
        self, resource: Resource, state: Mapping[str, Any], snapshot_id: str
    ) -> SnapshotResult:
        """Copy the resource's data under ``snapshot_id``; the resource keeps running.

        Raises:
            PermanentError: the type holds no data the provider can copy.
            TemporaryError: try again later.
        """
        ...

    def restore(self, resource: Resource, state: Mapping[str, Any], location: str) -> None:
        """Replace the resource's data with the snapshot at ``location``.

        The resource may be left stopped; reconcile starts it again.
        """
        ...

    def drop_snapshot(self, location: str) -> None:
        """Remove a snapshot's files; succeed when they are already gone."""
        ...
