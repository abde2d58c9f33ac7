"""Plinth's team quotas as Kueue objects (``kueue.x-k8s.io/v1beta2``, Kueue 0.19).

Plinth decides at plan time whether a team's accelerator request fits its quota;
inside a cluster Kueue enforces the same quotas. The mapping:

- each accelerator type (of the pools and of the queues' quotas) → a
  ``ResourceFlavor`` named after the type, whose ``nodeLabels`` pick the nodes
  labelled ``plinth.dev/accelerator: <type>``; a MIG-style quota key
  ``<type>:<profile>`` becomes the resource ``nvidia.com/mig-<profile>`` of the flavor
  ``<type>-mig``;
- each cohort → a ``Cohort``;
- each team's queue → a ``ClusterQueue`` named after the team, in its cohort, with the
  nominal quota, borrowing limit and lending limit of each type, the team's weight
  as its fair-sharing weight, and a ``namespaceSelector`` that admits workloads from
  the team's namespaces only (so no other namespace can spend the team's quota);
- each namespace of a team → a ``LocalQueue`` (named ``local_queue``, by default
  ``default``) pointing at the team's ClusterQueue: the queue name every accelerator
  workload of the Kubernetes provider carries in ``kueue.x-k8s.io/queue-name``.

Only accelerators are quota'd: Kueue must be configured to ignore CPU and memory
(``resources.excludeResourcePrefixes: [cpu, memory]``), see ``docs/kubernetes.md``.
The inputs are structural (``QueueLike``, ``PoolLike``): the accelerator capability's
``Queue`` and ``Pool`` fit them without this layer importing that one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Protocol

from plinth.core.errors import Conflict
from plinth.infrastructure.providers.kubernetes.names import (
    MANAGED_BY,
    Manifest,
    dns_label,
    label_value,
)
from plinth.infrastructure.providers.kubernetes.pods import (
    DEFAULT_ACCELERATOR_RESOURCE,
    mig_resource,
)

__all__ = [
    "ACCELERATOR_NODE_LABEL",
    "KUEUE_API",
    "NodeLike",
    "PoolLike",
    "QueueLike",
    "render_kueue",
]

KUEUE_API = "kueue.x-k8s.io/v1beta2"
ACCELERATOR_NODE_LABEL = "plinth.dev/accelerator"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


class QueueLike(Protocol):
    """A team's queue: what ``capabilities.accelerators.model.Queue`` holds."""

    @property
    def team(self) -> str: ...
    @property
    def nominal(self) -> Mapping[str, float]: ...
    @property
    def borrowing_limit(self) -> Mapping[str, float]: ...
    @property
    def lending_limit(self) -> Mapping[str, float]: ...
    @property
    def weight(self) -> float: ...
    @property
    def cohort(self) -> str: ...


class NodeLike(Protocol):
    """A node of a pool: its accelerator type."""

    @property
    def accelerator(self) -> str: ...


class PoolLike(Protocol):
    """An accelerator pool: its nodes."""

    @property
    def nodes(self) -> Sequence[NodeLike]: ...


def _quantity(value: float) -> str:
    """Return ``value`` devices as a Kubernetes quantity (``1500m`` for 1.5)."""
    exact = Fraction(value).limit_denominator(1000)
    if exact.denominator == 1:
        return str(exact.numerator)
    return f"{round(exact * 1000)}m"


def _split(key: str, resources: Mapping[str, str]) -> tuple[str, str]:
    """Return (flavor, resource name) of a quota key ``type`` or ``type:profile``."""
    kind, _, profile = key.partition(":")
    if profile:
        return dns_label(f"{kind}-mig"), mig_resource(profile)
    return dns_label(kind), resources.get(kind, DEFAULT_ACCELERATOR_RESOURCE)


def _meta(name: str, namespace: str | None = None) -> Manifest:
    meta: Manifest = {"name": name, "labels": {MANAGED_BY: "plinth"}}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _flavors(keys: Iterable[str], resources: Mapping[str, str]) -> list[Manifest]:
    out: dict[str, Manifest] = {}
    for key in keys:
        flavor, _ = _split(key, resources)
        kind = key.partition(":")[0]
        out[flavor] = {
            "apiVersion": KUEUE_API,
            "kind": "ResourceFlavor",
            "metadata": _meta(flavor),
            "spec": {"nodeLabels": {ACCELERATOR_NODE_LABEL: label_value(kind)}},
        }
    return [out[name] for name in sorted(out)]


def _groups(keys: Iterable[str], resources: Mapping[str, str]) -> dict[tuple[str, ...], list[str]]:
    """Return resource groups: covered resource names → the flavors that provide them."""
    by_flavor: dict[str, set[str]] = {}
    for key in keys:
        flavor, name = _split(key, resources)
        by_flavor.setdefault(flavor, set()).add(name)
    groups: dict[tuple[str, ...], list[str]] = {}
    for flavor, names in sorted(by_flavor.items()):
        groups.setdefault(tuple(sorted(names)), []).append(flavor)
    return groups


def _namespace_selector(spaces: Sequence[str] | None) -> Manifest:
    """Return a ClusterQueue's selector: only its team's namespaces may queue to it."""
    if spaces is None:
        return {}  # no namespaces given: every namespace
    if not spaces:  # a team without namespaces: none (every namespace has this label)
        return {"matchExpressions": [{"key": NAMESPACE_NAME_LABEL, "operator": "DoesNotExist"}]}
    return {
        "matchExpressions": [
            {"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": sorted(set(spaces))}
        ]
    }


def _cluster_queue(
    queue: QueueLike,
    groups: Mapping[tuple[str, ...], list[str]],
    resources: Mapping[str, str],
    spaces: Sequence[str] | None,
) -> Manifest:
    quota: dict[tuple[str, str], Manifest] = {}
    for key, nominal in queue.nominal.items():
        entry: Manifest = {"nominalQuota": _quantity(nominal)}
        if key in queue.borrowing_limit:
            entry["borrowingLimit"] = _quantity(queue.borrowing_limit[key])
        if key in queue.lending_limit:
            entry["lendingLimit"] = _quantity(queue.lending_limit[key])
        quota[_split(key, resources)] = entry
    resource_groups = [
        {
            "coveredResources": list(covered),
            "flavors": [
                {
                    "name": flavor,
                    "resources": [
                        {"name": name, **quota.get((flavor, name), {"nominalQuota": "0"})}
                        for name in covered
                    ],
                }
                for flavor in flavors
            ],
        }
        for covered, flavors in sorted(groups.items())
    ]
    return {
        "apiVersion": KUEUE_API,
        "kind": "ClusterQueue",
        "metadata": _meta(dns_label(queue.team)),
        "spec": {
            "cohortName": dns_label(queue.cohort),
            "namespaceSelector": _namespace_selector(spaces),
            "queueingStrategy": "BestEffortFIFO",
            "fairSharing": {"weight": _quantity(queue.weight)},
            "resourceGroups": resource_groups,
        },
    }


def _refuse_shared_namespaces(namespaces: Mapping[str, Sequence[str]]) -> None:
    """Raise Conflict when two teams would need their LocalQueue in one namespace."""
    owner: dict[str, str] = {}
    for team, spaces in sorted(namespaces.items()):
        for namespace in spaces:
            other = owner.setdefault(namespace, team)
            if other != team:
                raise Conflict(
                    f"teams {other!r} and {team!r} both run in namespace {namespace!r}, which "
                    "can hold one team's LocalQueue only: give each project its own namespace "
                    "(unset the kubernetes provider setting kubernetes_namespace)"
                )


def render_kueue(
    queues: Iterable[QueueLike],
    pools: Iterable[PoolLike] = (),
    *,
    namespaces: Mapping[str, Sequence[str]] | None = None,
    accelerator_resources: Mapping[str, str] | None = None,
    local_queue: str = "default",
) -> list[Manifest]:
    """Return the ResourceFlavors, Cohorts, ClusterQueues and LocalQueues of team quotas.

    ``namespaces`` maps a team to the namespaces its workloads run in (one LocalQueue
    each, and only they may use the team's ClusterQueue; when None, every namespace
    may); ``accelerator_resources`` maps an accelerator type to its extended resource
    name (``nvidia.com/gpu`` when not given).

    Raises:
        Conflict: two teams share a namespace (it can hold one LocalQueue of that name).
    """
    queue_list = sorted(queues, key=lambda q: q.team)
    resources = dict(accelerator_resources or {})
    keys = {key for q in queue_list for key in q.nominal}
    keys |= {node.accelerator for pool in pools for node in pool.nodes}
    groups = _groups(keys, resources)
    out = _flavors(sorted(keys), resources)
    for cohort in sorted({dns_label(q.cohort) for q in queue_list}):
        out.append(
            {"apiVersion": KUEUE_API, "kind": "Cohort", "metadata": _meta(cohort), "spec": {}}
        )
    for queue in queue_list:
        allowed = None if namespaces is None else list(namespaces.get(queue.team, ()))
        out.append(_cluster_queue(queue, groups, resources, allowed))
    _refuse_shared_namespaces(namespaces or {})
    for team, spaces in sorted((namespaces or {}).items()):
        for namespace in sorted(set(spaces)):
            out.append(
                {
                    "apiVersion": KUEUE_API,
                    "kind": "LocalQueue",
                    "metadata": _meta(local_queue, namespace),
                    "spec": {"clusterQueue": dns_label(team)},
                }
            )
    return out
