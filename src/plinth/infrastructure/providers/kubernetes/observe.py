"""What the live objects of one resource say: phase, health, outputs and drift (pure).

Drift is reported, never repaired here: an object the resource should have that
is missing, one it should no longer have, a spec digest annotation that differs
from the rendered one, and fields of the spec that another field manager has
changed (an ``Update`` or ``Apply`` by a manager other than Plinth's that owns
fields outside ``status``; controllers in ``ignored_managers`` are not drift).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from plinth.infrastructure.providers.base import Observation, Resource
from plinth.infrastructure.providers.kubernetes.names import DIGEST_ANNOTATION
from plinth.infrastructure.providers.kubernetes.pods import KUEUE_QUEUE_LABEL

__all__ = ["MAIN_KINDS", "drift", "observation", "outputs_of", "status_of"]

MAIN_KINDS: dict[str, tuple[str, ...]] = {
    "service": ("Deployment",),
    "model-deployment": ("Deployment",),
    "job": ("Job", "CronJob"),
    "volume": ("PersistentVolumeClaim",),
    "secret": ("Secret",),
    "route": ("Ingress",),
    "vm": ("VirtualMachine",),
}
"""The kind whose status stands for the resource, per resource type."""

Obj = Mapping[str, Any]


def _condition(obj: Obj, kind: str) -> Mapping[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind and cond.get("status") == "True":
            return dict(cond)
    return None


def _deployment(obj: Obj) -> tuple[str, bool | None, str]:
    wanted = int((obj.get("spec") or {}).get("replicas", 1))
    status = obj.get("status") or {}
    available = int(status.get("availableReplicas") or 0)
    failure = _condition(obj, "ReplicaFailure")
    if wanted == 0:
        return "stopped", None, "scaled to zero"
    if failure is not None:
        return "failed", False, str(failure.get("message") or "replica failure")
    if available >= wanted:
        return "running", True, f"{available}/{wanted} replicas available"
    return "pending", None, f"{available}/{wanted} replicas available"


def _job(obj: Obj) -> tuple[str, bool | None, str]:
    if (done := _condition(obj, "Complete")) is not None:
        return "succeeded", True, str(done.get("message") or "completed")
    if (failed := _condition(obj, "Failed")) is not None:
        return "failed", False, str(failed.get("message") or failed.get("reason") or "failed")
    if (obj.get("spec") or {}).get("suspend"):
        queued = KUEUE_QUEUE_LABEL in ((obj.get("metadata") or {}).get("labels") or {})
        if queued:
            return "queued", None, "waiting for Kueue to admit it"
        return "stopped", None, "suspended"
    return "running", None, f"{(obj.get('status') or {}).get('active', 0)} pod(s) active"


def _virtual_machine(obj: Obj) -> tuple[str, bool | None, str]:
    status = obj.get("status") or {}
    printable = str(status.get("printableStatus") or "Provisioning")
    if status.get("ready"):
        return "running", True, printable
    if printable.startswith(("Error", "CrashLoop")) or printable in ("Unschedulable",):
        return "failed", False, printable
    return printable.lower(), None, printable


def status_of(obj: Obj) -> tuple[str, bool | None, str]:
    """Return (phase, healthy, message) of one main object."""
    kind = str(obj.get("kind"))
    if kind == "Deployment":
        return _deployment(obj)
    if kind == "Job":
        return _job(obj)
    if kind == "CronJob":
        if (obj.get("spec") or {}).get("suspend"):
            return "stopped", None, "schedule suspended"
        last = (obj.get("status") or {}).get("lastScheduleTime")
        return "scheduled", True, f"last run scheduled at {last}" if last else "no run yet"
    if kind == "PersistentVolumeClaim":
        phase = str((obj.get("status") or {}).get("phase") or "Pending")
        healthy = {"Bound": True, "Lost": False}.get(phase)
        return ("failed" if phase == "Lost" else phase.lower()), healthy, f"claim {phase}"
    if kind == "VirtualMachine":
        return _virtual_machine(obj)
    if kind == "Ingress":
        balancers = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress")
        return ("ready", True, "admitted") if balancers else ("pending", None, "no address yet")
    return "ready", True, ""


def outputs_of(
    resource: Resource, objects: Sequence[Obj], host: str
) -> tuple[dict[str, Any], frozenset[str]]:
    """Return the outputs of ``resource`` (and which are secret) from its live objects."""
    by_kind = {str(o.get("kind")): o for o in objects}
    service = by_kind.get("Service")
    out: dict[str, Any] = {}
    if service is not None:
        ports = {
            str(p.get("name")): int(p["port"])
            for p in (service.get("spec") or {}).get("ports") or []
        }
        first = next(iter(ports.values()), None)
        out.update(host=host, ports=ports)
        if first is not None:
            out.update(port=first, url=f"http://{host}:{first}")
    if resource.type == "vm":
        out["accelerator"] = "kvm"
    if resource.type == "volume" and "PersistentVolumeClaim" in by_kind:
        claim = str(by_kind["PersistentVolumeClaim"]["metadata"]["name"])
        out.update(claim=claim, source=f"pvc:{claim}", path=f"pvc:{claim}")
    if resource.type == "route" and "Ingress" in by_kind:
        rule = by_kind["Ingress"]["spec"]["rules"][0]
        path = rule["http"]["paths"][0]["path"]
        scheme = "https" if by_kind["Ingress"]["spec"].get("tls") else "http"
        out.update(host=rule["host"], path=path, url=f"{scheme}://{rule['host']}{path}")
    if resource.type == "secret" and "Secret" in by_kind:
        data = by_kind["Secret"].get("data") or {}
        if "value" in data:
            out["value"] = base64.b64decode(data["value"]).decode()
            return out, frozenset({"value"})
    return out, frozenset()


def _leaf_fields(fields: Mapping[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for key, child in fields.items():
        if not key.startswith("f:"):
            continue
        path = f"{prefix}.{key[2:]}" if prefix else key[2:]
        out.extend(_leaf_fields(child, path) if child else [path])
    return out


def _changed_by_others(obj: Obj, field_manager: str, ignored: Iterable[str]) -> list[str]:
    skip = {field_manager, *ignored}
    found: list[str] = []
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") in skip or entry.get("subresource"):
            continue
        fields = {
            k: v
            for k, v in (entry.get("fieldsV1") or {}).items()
            if k not in ("f:metadata", "f:status")
        }
        touched = sorted(_leaf_fields(fields))
        if touched:
            where = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
            shown = ", ".join(touched[:5]) + (
                f" and {len(touched) - 5} more" if len(touched) > 5 else ""
            )
            found.append(f"{where}: {shown} changed by {entry.get('manager')!r}")
    return found


def drift(
    desired: Sequence[Obj],
    live: Sequence[Obj],
    *,
    field_manager: str,
    ignored_managers: Iterable[str] = (),
) -> list[str]:
    """Return how ``live`` differs from ``desired`` (empty when in sync)."""
    ignored = tuple(ignored_managers)
    want = {(str(m["kind"]), str(m["metadata"]["name"])): m for m in desired}
    have = {(str(o["kind"]), str(o["metadata"]["name"])): o for o in live}
    found = [f"{k}/{n} is missing" for k, n in sorted(want.keys() - have.keys())]
    found += [f"{k}/{n} is no longer wanted" for k, n in sorted(have.keys() - want.keys())]
    for key in sorted(want.keys() & have.keys()):
        wanted_digest = want[key]["metadata"]["annotations"][DIGEST_ANNOTATION]
        live_digest = ((have[key].get("metadata") or {}).get("annotations") or {}).get(
            DIGEST_ANNOTATION
        )
        if live_digest != wanted_digest:
            found.append(f"{key[0]}/{key[1]} was applied from another spec")
        found += _changed_by_others(have[key], field_manager, ignored)
    return found


def observation(
    resource: Resource,
    live: Sequence[Obj],
    *,
    desired: Sequence[Obj],
    host: str,
    field_manager: str,
    ignored_managers: Iterable[str] = (),
) -> Observation:
    """Return the observation of ``resource`` from its live objects."""
    if not live:
        return Observation(exists=False, phase="absent")
    main = next((o for o in live if o.get("kind") in MAIN_KINDS[resource.type]), None)
    differences = drift(
        desired, live, field_manager=field_manager, ignored_managers=ignored_managers
    )
    objects = sorted(f"{o.get('kind')}/{o['metadata']['name']}" for o in live)
    state: dict[str, Any] = {
        "namespace": live[0]["metadata"].get("namespace"),
        "objects": objects,
        "drift": differences,
    }
    if main is None:
        return Observation(
            exists=True,
            phase="incomplete",
            healthy=False,
            state=state,
            message="; ".join(differences),
        )
    phase, healthy, message = status_of(main)
    outputs, secret = outputs_of(resource, live, host)
    digests = {
        ((o.get("metadata") or {}).get("annotations") or {}).get(DIGEST_ANNOTATION) for o in live
    }
    created = (main.get("metadata") or {}).get("creationTimestamp")
    if created:
        state["created_at"] = str(created)
    return Observation(
        exists=True,
        phase=phase,
        healthy=healthy,
        outputs=outputs,
        secret_outputs=secret,
        state=state,
        applied_digest=digests.pop() if len(digests) == 1 else None,
        message="; ".join([message, *differences]) if differences else message,
    )


def age_seconds(created_at: str | None, now: datetime | None = None) -> float:
    """Return seconds since an RFC 3339 ``creationTimestamp`` (0 when unknown)."""
    if not created_at:
        return 0.0
    started = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    return max(0.0, ((now or datetime.now(UTC)) - started).total_seconds())
