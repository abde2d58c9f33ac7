"""The Rego input: what a policy sees of a plan or of live state.

``{"kind": "plan" | "live", "actor": {name, type, roles, team}, "environment": {name,
tier, protected, region}, "project": {name, team, labels, classification}, "resources":
[{name, type, action, spec, before, labels, agent, annotations, realised, state?}],
"documents": [{kind, name, action, spec}], "cost": {...}, "models": {"name@version":
verification}}``. ``annotations`` are those of the workload that declares the resource;
``realised`` is false for a resource no provider has made yet (it holds no data).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from plinth.capabilities.identity.schemas import Actor
from plinth.capabilities.models.stages import model_refs
from plinth.integration.importers.score import resource_name

__all__ = [
    "AGENT_ANNOTATION",
    "CLASSIFICATION_LABEL",
    "PlanLike",
    "actor_input",
    "policy_input_for_live",
    "policy_input_for_plan",
]

AGENT_ANNOTATION = "plinth.dev/agent"
CLASSIFICATION_LABEL = "plinth.dev/classification"
_NO_FACTS = {
    "ok": False,
    "reason": "not verified (no registry facts for it in this plan)",
    "signer": "",
    "digest_now": None,
}


class PlanLike(Protocol):
    """What the input needs of a plan (``orchestration.gates.base.PlanView`` fits)."""

    @property
    def environment(self) -> str:
        """The environment's name."""

    @property
    def environment_tier(self) -> str:
        """The environment's tier (dev, staging, prod)."""

    @property
    def environment_protected(self) -> bool:
        """True if the environment is protected."""

    @property
    def project(self) -> str:
        """The project's name."""

    @property
    def team(self) -> str:
        """The project's team."""

    @property
    def changes(self) -> tuple[Mapping[str, Any], ...]:
        """The plan's changes."""

    @property
    def extra(self) -> Mapping[str, Any]:
        """Facts gathered for gates (``models``, ``policy``, ``cost``)."""


def actor_input(actor: Actor | None) -> dict[str, Any]:
    """Return the actor as the input shows it."""
    if actor is None:
        return {"name": "", "type": "system", "roles": [], "team": None}
    return {
        "name": actor.name,
        "type": "agent" if actor.kind == "agent" else "human",
        "roles": sorted({g.role for g in actor.grants}),
        "team": actor.teams[0] if actor.teams else None,
    }


def _agents_by_workload(changes: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for change in changes:
        if change.get("kind") != "Workload":
            continue
        after = change.get("after") or change.get("before") or {}
        agent = ((after.get("metadata") or {}).get("annotations") or {}).get(AGENT_ANNOTATION)
        if agent:
            found[str(change.get("name"))] = str(agent)
    return found


def _annotations_by_resource(changes: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """Return the annotations of the workload declaring each resource (shared ones: none)."""
    found: dict[str, dict[str, str]] = {}
    for change in changes:
        body = change.get("after") or change.get("before") or {}
        if change.get("kind") != "Workload" or not isinstance(body, Mapping):
            continue
        raw = (body.get("metadata") or {}).get("annotations") or {}
        notes = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}
        name = str(change.get("name"))
        found[name] = notes
        declared = body.get("resources")
        for key, item in declared.items() if isinstance(declared, Mapping) else []:
            if isinstance(item, Mapping) and "id" not in item:
                found[resource_name(f"{name}-{key}")] = notes
    return found


def _project(name: str, team: str, facts: Mapping[str, Any]) -> dict[str, Any]:
    labels = dict(facts.get("labels") or {})
    return {
        "name": name,
        "team": team,
        "labels": labels,
        "classification": facts.get("classification") or labels.get(CLASSIFICATION_LABEL, ""),
    }


def policy_input_for_plan(plan: PlanLike, actor: Actor | None) -> dict[str, Any]:
    """Return the Rego input of a plan: its changed resources and documents, cost, models."""
    facts: Mapping[str, Any] = plan.extra.get("policy") or {}
    agents = _agents_by_workload(plan.changes)
    annotations = _annotations_by_resource(plan.changes)
    realised = set(facts.get("realised") or ())  # names a provider has made at least once
    resources: list[dict[str, Any]] = []
    documents: list[dict[str, Any]] = []
    for change in plan.changes:
        if change.get("kind") == "Resource":
            spec = change.get("after") or {}
            resources.append(
                {
                    "name": change.get("name"),
                    "type": change.get("type"),
                    "action": change.get("action"),
                    "spec": spec,
                    "before": change.get("before"),
                    "labels": dict(spec.get("labels") or {}) if isinstance(spec, dict) else {},
                    "agent": agents.get(str(change.get("name")), ""),
                    "annotations": annotations.get(str(change.get("name")), {}),
                    "realised": change.get("name") in realised,
                }
            )
        elif change.get("action") != "no-op":
            body = change.get("after") or change.get("before") or {}
            documents.append(
                {
                    "kind": change.get("kind"),
                    "name": change.get("name"),
                    "action": change.get("action"),
                    "spec": body.get("spec") if isinstance(body, dict) else None,
                }
            )
    known: Mapping[str, Any] = plan.extra.get("models") or {}
    env = dict(facts.get("environment") or {})
    return {
        "kind": "plan",
        "actor": actor_input(actor),
        "environment": {
            "name": plan.environment,
            "tier": plan.environment_tier,
            "protected": plan.environment_protected,
            "region": env.get("region", ""),
        },
        "project": _project(plan.project, plan.team, facts.get("project") or {}),
        "resources": resources,
        "documents": documents,
        "cost": dict(plan.extra.get("cost") or {}),
        "models": {ref: dict(known.get(ref) or _NO_FACTS) for ref in model_refs(plan.changes)},
    }


def policy_input_for_live(
    *,
    environment: Mapping[str, Any],
    project: Mapping[str, Any],
    resources: Sequence[Mapping[str, Any]],
    models: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the Rego input of live state (``resources``: name, type, spec, state, agent)."""
    return {
        "kind": "live",
        "actor": actor_input(None),
        "environment": {
            "name": environment.get("name", ""),
            "tier": environment.get("tier", ""),
            "protected": bool(environment.get("protected", False)),
            "region": environment.get("region", ""),
        },
        "project": _project(str(project.get("name", "")), str(project.get("team", "")), project),
        "resources": [
            {
                "name": r.get("name"),
                "type": r.get("type"),
                "action": "live",
                "spec": dict(r.get("spec") or {}),
                "before": None,
                "state": dict(r.get("state") or {}),
                "labels": dict(r.get("labels") or {}),
                "agent": str(r.get("agent") or ""),
                "annotations": dict(r.get("annotations") or {}),
                "realised": True,
            }
            for r in resources
        ],
        "documents": [],
        "cost": {},
        "models": dict(models or {}),
    }
