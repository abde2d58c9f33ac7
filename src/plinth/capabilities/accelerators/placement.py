"""Where requests fit: the device-level state of every node, with best-fit packing.

Whole-device requests that fit on one node go to the node with the fewest free devices
that still fits them (best fit), which keeps whole nodes free for large gangs. Gangs
larger than a node take whole free nodes plus, for a remainder, one best-fit node.
Fractions of a device go to an already shared device first. Every lookup is bounded by
the number of distinct free counts per type, not the number of nodes, except for
fractions and partitions (rare, small requests), which scan the nodes of their type.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from plinth.capabilities.accelerators.model import MILLI, Allocation, Placement, Pool, Request
from plinth.core.errors import Conflict, InvalidInput, NotFound

__all__ = ["Cluster", "NodeState"]


@dataclass
class NodeState:
    """Mutable free capacity of one node."""

    index: int
    name: str
    accelerator: str
    free: list[int]
    whole_free: int
    slots: dict[str, int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Return the node's device count."""
        return len(self.free)


class Cluster:
    """Free capacity of all nodes of all pools, indexed by accelerator type and free devices."""

    def __init__(self, pools: Iterable[Pool]) -> None:
        self.nodes: list[NodeState] = []
        self.by_name: dict[str, NodeState] = {}
        self.capacity: dict[str, int] = {}
        self.node_size: dict[str, int] = {}
        self.free_total: dict[str, int] = {}
        self._buckets: dict[str, list[dict[int, None]]] = {}
        self.allocations: dict[str, Allocation] = {}
        for pool in pools:
            for node in pool.nodes:
                self._add(node.name, node.accelerator, node.count, dict(node.partitions))
        for accel, size in self.node_size.items():
            self._buckets[accel] = [{} for _ in range(size + 1)]
        for state in self.nodes:
            self._buckets[state.accelerator][state.whole_free][state.index] = None

    def _add(self, name: str, accel: str, count: int, slots: dict[str, int]) -> None:
        if name in self.by_name:
            raise InvalidInput(f"node {name!r} is declared twice")
        state = NodeState(len(self.nodes), name, accel, [MILLI] * count, count, slots)
        self.nodes.append(state)
        self.by_name[name] = state
        self.capacity[accel] = self.capacity.get(accel, 0) + count * MILLI
        self.free_total[accel] = self.free_total.get(accel, 0) + count * MILLI
        self.node_size[accel] = max(self.node_size.get(accel, 0), count)

    def check(self, request: Request) -> None:
        """Raise InvalidInput/NotFound when the request could never fit this cluster."""
        request.validate()
        accel = request.accelerator
        if accel not in self.capacity:
            known = ", ".join(sorted(self.capacity)) or "none"
            raise NotFound(f"request {request.id!r}: no pool has {accel!r} (pools have {known})")
        if request.partition is not None:
            best = max((n.slots.get(request.partition, 0) for n in self.nodes), default=0)
            if best < request.count:
                raise InvalidInput(
                    f"request {request.id!r}: no {accel} node has {int(request.count)} "
                    f"{request.partition!r} partitions"
                )
            return
        size = self.node_size[accel]
        per_node = request.count / request.nodes if request.nodes else min(request.count, size)
        nodes_of_type = sum(1 for n in self.nodes if n.accelerator == accel and n.size >= 1)
        wanted = request.nodes or -(-int(request.count * MILLI) // (size * MILLI))
        if request.milli > self.capacity[accel] or per_node > size or wanted > nodes_of_type:
            raise InvalidInput(
                f"request {request.id!r}: a gang of {request.count:g} {accel} "
                f"(over {wanted} node(s)) is larger than the cluster "
                f"({self.capacity[accel] // MILLI} devices, {size} per node)"
            )

    def _pick(self, accel: str, at_least: int, avoid: Collection[int], taken: set[int]) -> int:
        """Return the best-fit node index with >= at_least whole free devices, or -1."""
        for bucket in self._buckets[accel][at_least:]:
            for index in bucket:
                if index not in avoid and index not in taken:
                    return index
        return -1

    def find(self, request: Request, *, avoid: Collection[int] = ()) -> list[Placement] | None:
        """Return placements for the request on the free capacity, or None; changes nothing."""
        accel = request.accelerator
        if request.milli > self.free_total.get(accel, 0) and request.partition is None:
            return None
        if request.partition is not None:
            return self._find_slots(request, avoid)
        if request.fractional:
            return self._find_fraction(request, avoid)
        count, size = int(request.count), self.node_size[accel]
        if request.nodes:
            shape = [count // request.nodes] * request.nodes
        else:
            shape = [size] * (count // size) + ([count % size] if count % size else [])
        taken: set[int] = set()
        out: list[Placement] = []
        for need in shape:
            index = self._pick(accel, need, avoid, taken)
            if index < 0:
                return None
            taken.add(index)
            state = self.nodes[index]
            devices = tuple(i for i, f in enumerate(state.free) if f == MILLI)[:need]
            out.append(Placement(state.name, devices))
        return out

    def _find_fraction(self, request: Request, avoid: Collection[int]) -> list[Placement] | None:
        milli, best = request.milli, None
        best_key = (MILLI + 1, 0)
        for state in self.nodes:
            if state.accelerator != request.accelerator or state.index in avoid:
                continue
            for dev, free in enumerate(state.free):
                # Prefer a shared device (free < MILLI); among whole ones the fullest node.
                key = (free, state.whole_free) if free < MILLI else (MILLI, state.whole_free)
                if free >= milli and key < best_key:
                    best_key, best = key, Placement(state.name, (dev,), milli)
        return None if best is None else [best]

    def _find_slots(self, request: Request, avoid: Collection[int]) -> list[Placement] | None:
        need, profile = int(request.count), str(request.partition)
        fits = [
            (state.slots.get(profile, 0), state.index)
            for state in self.nodes
            if state.accelerator == request.accelerator
            and state.index not in avoid
            and state.slots.get(profile, 0) >= need
        ]
        if not fits:
            return None
        return [Placement(self.nodes[min(fits)[1]].name, (), 0, need, profile)]

    def allocate(self, allocation: Allocation) -> None:
        """Take the allocation's capacity; raise Conflict if any part is not free."""
        if allocation.request_id in self.allocations:
            raise Conflict(f"request {allocation.request_id!r} already holds an allocation")
        for p in allocation.placements:
            state = self.by_name[p.node]
            short = any(state.free[d] < p.milli_each for d in p.devices)
            if short or state.slots.get(p.profile or "", 0) < p.slots:
                raise Conflict(f"node {p.node!r} has no room for {allocation.request_id!r}")
        for p in allocation.placements:
            self._apply(p, -1)
        self.allocations[allocation.request_id] = allocation

    def release(self, request_id: str) -> Allocation:
        """Give back the capacity held by a request and return its allocation."""
        allocation = self.allocations.pop(request_id)
        for p in allocation.placements:
            self._apply(p, +1)
        return allocation

    def _apply(self, p: Placement, sign: int) -> None:
        state = self.by_name[p.node]
        buckets = self._buckets[state.accelerator]
        del buckets[state.whole_free][state.index]
        for d in p.devices:
            state.free[d] += sign * p.milli_each
        if p.slots:
            profile = p.profile or ""
            state.slots[profile] = state.slots.get(profile, 0) + sign * p.slots
        state.whole_free = sum(1 for f in state.free if f == MILLI)
        buckets[state.whole_free][state.index] = None
        self.free_total[state.accelerator] += sign * p.milli_each * len(p.devices)

    def fully_free_nodes(self, accel: str) -> int:
        """Return how many nodes of the type have every device free."""
        size = self.node_size.get(accel, 0)
        return len(self._buckets[accel][size]) if accel in self._buckets else 0

    def whole_nodes(self, accel: str) -> list[int]:
        """Return indices of the type's nodes that have every device free."""
        size = self.node_size.get(accel, 0)
        return list(self._buckets[accel][size]) if accel in self._buckets else []

    def nodes_by_free(self, accel: str) -> list[int]:
        """Return node indices of the type, most free devices first (stable order)."""
        out: list[int] = []
        for bucket in reversed(self._buckets.get(accel, [])):
            out.extend(bucket)
        return out
