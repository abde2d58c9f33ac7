"""Plain data for accelerator scheduling: nodes, pools, queues, requests, allocations.

Quantities of accelerators are kept in *milli-devices* (1,000 per device) inside the
scheduler, so that fractional shares of one device add up exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from plinth.core.errors import InvalidInput

__all__ = [
    "FRACTIONAL_KINDS",
    "MILLI",
    "WORKLOAD_KINDS",
    "Allocation",
    "Node",
    "Placement",
    "Pool",
    "Queue",
    "Request",
    "WorkloadKind",
    "quota_key",
]

MILLI = 1000
WorkloadKind = Literal["training-job", "notebook", "batch-inference"]
WORKLOAD_KINDS: tuple[str, ...] = ("training-job", "notebook", "batch-inference")
# Kinds that may ask for a fraction of one device (0 < count < 1).
FRACTIONAL_KINDS: tuple[str, ...] = ("notebook", "batch-inference")


@dataclass(frozen=True)
class Node:
    """One machine: ``count`` devices of one accelerator type, optional MIG-style partitions."""

    name: str
    accelerator: str
    count: int
    memory_gib: float = 0.0
    partitions: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if self.count < 0 or any(n <= 0 for _, n in self.partitions):
            raise InvalidInput(f"node {self.name!r}: device and partition counts must be >= 0")


@dataclass(frozen=True)
class Pool:
    """A named set of nodes (an ``AcceleratorPool``)."""

    name: str
    nodes: tuple[Node, ...]

    def capacity(self) -> dict[str, int]:
        """Return whole devices per accelerator type."""
        out: dict[str, int] = {}
        for node in self.nodes:
            out[node.accelerator] = out.get(node.accelerator, 0) + node.count
        return out


@dataclass(frozen=True)
class Queue:
    """A team's ClusterQueue: nominal quota per type, borrowing and lending limits, weight.

    ``borrowing_limit`` and ``lending_limit`` map a type to devices; a type that is not
    named has no limit. ``weight`` scales the team's fair share; ``cohort`` names the
    group of queues that lend to each other.
    """

    team: str
    nominal: Mapping[str, float]
    borrowing_limit: Mapping[str, float] = field(default_factory=dict)
    lending_limit: Mapping[str, float] = field(default_factory=dict)
    weight: float = 1.0
    cohort: str = "default"

    def __post_init__(self) -> None:
        values = [*self.nominal.values(), *self.borrowing_limit.values()]
        values += list(self.lending_limit.values())
        if any(v < 0 for v in values) or self.weight <= 0:
            raise InvalidInput(f"queue {self.team!r}: quotas must be >= 0 and weight > 0")


@dataclass(frozen=True)
class Request:
    """A workload asking for accelerators; only what a real platform knows at submit time.

    ``count`` is the total number of devices (an integer >= 1, or 0 < count < 1 for
    notebooks and batch inference). ``nodes`` fixes the gang's node count (``count`` is
    then split evenly); ``None`` lets the scheduler pack it. ``partition`` asks for
    ``count`` MIG-style slices of that profile instead of whole devices.
    ``estimate_s`` is the user's own run-time estimate, if any (never the true one).
    """

    id: str
    team: str
    accelerator: str
    count: float
    kind: WorkloadKind = "training-job"
    nodes: int | None = None
    priority: int = 0
    submit_s: float = 0.0
    estimate_s: float | None = None
    partition: str | None = None

    @property
    def milli(self) -> int:
        """Return the request in milli-devices (partition slots count as whole units)."""
        return round(self.count * MILLI)

    @property
    def fractional(self) -> bool:
        """Return True for a request for part of one device."""
        return self.partition is None and self.count < 1

    def validate(self) -> None:
        """Raise InvalidInput when the request is malformed, whatever the cluster."""
        where = f"request {self.id!r}"
        if self.kind not in WORKLOAD_KINDS:
            raise InvalidInput(f"{where}: unknown kind {self.kind!r}")
        if not self.count > 0:
            raise InvalidInput(f"{where}: count must be > 0, got {self.count}")
        whole = float(self.count).is_integer()
        if not whole and (self.count > 1 or self.partition is not None):
            raise InvalidInput(f"{where}: count {self.count} must be a whole number")
        if not whole and self.kind not in FRACTIONAL_KINDS:
            raise InvalidInput(
                f"{where}: a {self.kind} cannot ask for a fraction of a device "
                f"(only {', '.join(FRACTIONAL_KINDS)} can)"
            )
        if not whole and round(self.count * MILLI) < 1:
            raise InvalidInput(f"{where}: count {self.count} is below 1/{MILLI} of a device")
        if self.nodes is not None and (self.nodes < 1 or not whole or self.count % self.nodes):
            raise InvalidInput(
                f"{where}: {self.count} devices do not split over {self.nodes} nodes"
            )


def quota_key(request: Request) -> str:
    """Return the quota resource a request draws on: the type, or ``type:profile``."""
    if request.partition is None:
        return request.accelerator
    return f"{request.accelerator}:{request.partition}"


@dataclass(frozen=True)
class Placement:
    """Part of an allocation on one node: device indices and milli-devices taken from each.

    For a partition request ``devices`` is empty and ``slots`` counts ``profile`` slices.
    """

    node: str
    devices: tuple[int, ...]
    milli_each: int = MILLI
    slots: int = 0
    profile: str | None = None


@dataclass(frozen=True)
class Allocation:
    """Where an admitted request runs; ``borrowed`` when it used another team's quota."""

    request_id: str
    placements: tuple[Placement, ...]
    borrowed: bool = False

    def visible_devices(self, node: str) -> str:
        """Return the ``CUDA_VISIBLE_DEVICES`` value for this allocation on ``node``."""
        for placement in self.placements:
            if placement.node == node:
                return ",".join(str(d) for d in placement.devices)
        return ""
