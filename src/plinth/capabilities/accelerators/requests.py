"""How a resource spec asks for accelerators, and how its allocation is written back.

A resolved resource spec (``job``, ``notebook``, ...) asks for accelerators with::

    "accelerators": {"type": "A100", "count": 2, "kind": "training-job",
                     "nodes": null, "partition": null, "priority": 0, "estimate_s": null}

(the Score importer fills it from ``plinth.dev/accelerator*`` annotations). At
apply time the platform adds ``"allocation": {"node", "devices", "fraction",
"partition", "slots"}``; the local provider turns ``devices`` into
``CUDA_VISIBLE_DEVICES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plinth.capabilities.accelerators.model import MILLI, WORKLOAD_KINDS, Allocation, Request
from plinth.core.errors import InvalidInput

__all__ = ["ACCELERATOR_KEY", "allocation_fragment", "request_from_spec", "with_allocation"]

ACCELERATOR_KEY = "accelerators"


def request_from_spec(
    resource_id: str,
    team: str,
    spec: Mapping[str, Any],
    *,
    submit_s: float = 0.0,
    priority_classes: Mapping[str, int] | None = None,
) -> Request | None:
    """Return the scheduler request a resource spec makes, or None when it asks for none."""
    asked = spec.get(ACCELERATOR_KEY)
    if not isinstance(asked, Mapping):
        return None
    priority = asked.get("priority", 0)
    if isinstance(priority, str):
        classes = priority_classes or {}
        if priority not in classes:
            known = ", ".join(sorted(classes)) or "none are defined"
            raise InvalidInput(f"unknown priority class {priority!r} (known: {known})")
        priority = classes[priority]
    kind = str(asked.get("kind") or "training-job")
    if kind not in WORKLOAD_KINDS:
        raise InvalidInput(f"unknown accelerator workload kind {kind!r}")
    try:
        count = float(asked.get("count", 1))
    except (TypeError, ValueError):
        raise InvalidInput(f"accelerator count {asked.get('count')!r} is not a number") from None
    request = Request(
        id=resource_id,
        team=team,
        accelerator=str(asked.get("type") or ""),
        count=count,
        kind=kind,  # type: ignore[arg-type]  # checked against WORKLOAD_KINDS above
        nodes=None if asked.get("nodes") is None else int(asked["nodes"]),
        priority=int(priority),
        submit_s=submit_s,
        estimate_s=None if asked.get("estimate_s") is None else float(asked["estimate_s"]),
        partition=asked.get("partition") or None,
    )
    if not request.accelerator:
        raise InvalidInput("an accelerator request needs a type (H100, A100, L4, ...)")
    request.validate()
    return request


def allocation_fragment(
    allocation: Allocation, *, physical: Mapping[str, tuple[int, ...]] | None = None
) -> dict[str, Any]:
    """Return the ``allocation`` entry for a resource spec (first node of a gang first)."""
    placements = allocation.placements
    if not placements:
        return {"node": None, "devices": [], "fraction": None, "nodes": []}
    first = placements[0]
    nodes = []
    for p in placements:
        mapping = (physical or {}).get(p.node)
        devices = [mapping[d] if mapping and d < len(mapping) else d for d in p.devices]
        nodes.append({"node": p.node, "devices": devices})
    fraction = None if first.milli_each >= MILLI else first.milli_each / MILLI
    return {
        "node": first.node,
        "devices": nodes[0]["devices"],
        "fraction": fraction,
        "partition": first.profile,
        "slots": first.slots,
        "nodes": nodes,
        "borrowed": allocation.borrowed,
    }


def with_allocation(spec: Mapping[str, Any], fragment: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of ``spec`` whose accelerator request carries ``fragment``."""
    asked = dict(spec.get(ACCELERATOR_KEY) or {})
    asked["allocation"] = dict(fragment)
    return {**spec, ACCELERATOR_KEY: asked}
