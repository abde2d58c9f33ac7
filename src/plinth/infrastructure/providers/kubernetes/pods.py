"""The pod template of a workload: containers with secure defaults, resources, env and files.

Secure defaults follow the spec's ``security`` block (``orchestration.secure_defaults``):
with ``runAsNonRoot`` the pod runs as user and group 65532; every container drops
ALL capabilities, uses the runtime's default seccomp profile, is not privileged
and (unless opted out) cannot escalate privileges and has a read-only root file
system, with an ``emptyDir`` on ``/tmp``. Environment variables come from a
Secret (a resolved spec may hold passwords), declared files from another.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from plinth.core.errors import PermanentError
from plinth.infrastructure.providers.base import Resource
from plinth.infrastructure.providers.kubernetes.names import (
    RenderOptions,
    dns_label,
    labels,
    object_name,
)

__all__ = [
    "DEFAULT_ACCELERATOR_RESOURCE",
    "KUEUE_QUEUE_LABEL",
    "NON_ROOT_ID",
    "accelerator_resource",
    "env_secret",
    "files_secret",
    "mig_resource",
    "pod_template",
    "queue_labels",
    "security_settings",
]

NON_ROOT_ID = 65532
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
DEFAULT_ACCELERATOR_RESOURCE = "nvidia.com/gpu"
_DEFAULT_REQUESTS = {"cpu": "100m", "memory": "128Mi"}


def security_settings(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Return the process defaults of ``spec`` (secure unless its ``security`` block opts out)."""
    asked = spec.get("security") or {}
    return {
        "runAsNonRoot": asked.get("runAsNonRoot", True) is not False,
        "readOnlyRootFilesystem": asked.get("readOnlyRootFilesystem", True) is not False,
        "allowPrivilegeEscalation": asked.get("allowPrivilegeEscalation", False) is True,
    }


def accelerator_resource(spec: Mapping[str, Any], options: RenderOptions) -> tuple[str, int] | None:
    """Return the extended resource name and device count a spec asks for, if any."""
    asked = spec.get("accelerators")
    if not isinstance(asked, Mapping):
        return None
    kind = str(asked["type"])
    allocation = asked.get("allocation") or {}
    partition = allocation.get("partition") if isinstance(allocation, Mapping) else None
    if partition:
        name = mig_resource(str(partition))
    else:
        name = options.accelerator_resources.get(kind, DEFAULT_ACCELERATOR_RESOURCE)
    return name, max(1, math.ceil(float(asked["count"])))


def mig_resource(profile: str) -> str:
    """Return the extended resource name of a MIG profile (``nvidia.com/mig-1g.5gb``)."""
    return "nvidia.com/mig-" + re.sub(r"[^A-Za-z0-9_.-]", "-", profile).strip("-._")


def queue_labels(spec: Mapping[str, Any], options: RenderOptions) -> dict[str, str]:
    """Return the Kueue queue label for a workload that asks for accelerators."""
    if accelerator_resource(spec, options) is None:
        return {}
    return {KUEUE_QUEUE_LABEL: options.local_queue}


def _env_key(container: str, variable: str) -> str:
    return re.sub(r"[^-._a-zA-Z0-9]", "_", f"{container}.{variable}")


def env_secret(resource: Resource, spec: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """Return the name and string data of the Secret holding every container's env."""
    data: dict[str, str] = {}
    for cname, container in sorted(spec["containers"].items()):
        for key, value in sorted((container.get("env") or {}).items()):
            data[_env_key(cname, key)] = str(value)
    return object_name(resource, "env"), data


def files_secret(resource: Resource, spec: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """Return the name and string data of the Secret holding every container's files."""
    data: dict[str, str] = {}
    for cname, container in sorted(spec["containers"].items()):
        for pos, item in enumerate(container.get("files") or []):
            data[f"{dns_label(cname)}-{pos}"] = str(item["content"])
    return object_name(resource, "files"), data


def _resources(spec: Mapping[str, Any], options: RenderOptions) -> dict[str, Any]:
    asked = spec.get("resources") or {}
    requests = dict(_DEFAULT_REQUESTS)
    limits: dict[str, Any] = {"memory": asked.get("memory") or "512Mi"}
    if asked.get("cpu"):
        requests["cpu"] = limits["cpu"] = str(asked["cpu"])
    if asked.get("memory"):
        requests["memory"] = str(asked["memory"])
    accelerator = accelerator_resource(spec, options)
    if accelerator is not None:
        name, count = accelerator
        limits[name] = requests[name] = str(count)
    return {"requests": requests, "limits": limits}


def _container_security(spec: Mapping[str, Any]) -> dict[str, Any]:
    settings = security_settings(spec)
    out: dict[str, Any] = {
        "allowPrivilegeEscalation": settings["allowPrivilegeEscalation"],
        "privileged": False,
        "readOnlyRootFilesystem": settings["readOnlyRootFilesystem"],
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
        "runAsNonRoot": settings["runAsNonRoot"],
    }
    return out


def _probe(spec: Mapping[str, Any]) -> dict[str, Any] | None:
    check = spec.get("healthcheck")
    if not isinstance(check, Mapping):
        return None
    ports = {p["name"]: int(p["port"]) for p in spec.get("ports") or []}

    def port(name: str) -> int:
        if name not in ports:
            raise PermanentError(f"healthcheck names port {name!r}, which is not declared")
        return ports[name]

    if "http" in check:
        action: dict[str, Any] = {
            "httpGet": {"path": check["http"]["path"] or "/", "port": port(check["http"]["port"])}
        }
    elif "tcp" in check:
        action = {"tcpSocket": {"port": port(check["tcp"]["port"])}}
    else:
        action = {"exec": {"command": list(check["exec"]["command"])}}
    return {**action, "periodSeconds": 10, "failureThreshold": 3}


def _volume_source(source: str) -> tuple[str, str]:
    if not source.startswith("pvc:"):
        raise PermanentError(
            f"volume source {source!r} is a host path: on Kubernetes a workload mounts "
            "volume resources (pvc:<claim>), not directories of one machine"
        )
    claim, _, sub = source[4:].partition("/")
    return claim, sub


def _mounts(
    resource: Resource, spec: Mapping[str, Any], cname: str
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Return a container's volume mounts and the pod volumes they need, by name."""
    mounts: list[dict[str, Any]] = []
    volumes: dict[str, dict[str, Any]] = {}
    if security_settings(spec)["readOnlyRootFilesystem"]:
        mounts.append({"name": "tmp", "mountPath": "/tmp"})
        volumes["tmp"] = {"name": "tmp", "emptyDir": {}}
    container = spec["containers"][cname]
    files_name, _ = files_secret(resource, spec)
    for pos, item in enumerate(container.get("files") or []):
        key = f"{dns_label(cname)}-{pos}"
        mounts.append(
            {"name": "files", "mountPath": item["target"], "subPath": key, "readOnly": True}
        )
        mode = int(str(item.get("mode") or "0644"), 8)
        volumes.setdefault("files", {"name": "files", "secret": {"secretName": files_name}})
        volumes["files"]["secret"].setdefault("items", []).append(
            {"key": key, "path": key, "mode": mode}
        )
    for item in spec.get("volumes") or []:
        claim, sub = _volume_source(str(item["source"]))
        name = dns_label(f"pvc-{claim}")
        mount = {"name": name, "mountPath": item["target"], "readOnly": bool(item.get("read_only"))}
        mounts.append({**mount, "subPath": sub} if sub else mount)
        volumes[name] = {"name": name, "persistentVolumeClaim": {"claimName": claim}}
    return mounts, volumes


def _container(
    resource: Resource, spec: Mapping[str, Any], cname: str, options: RenderOptions, first: bool
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    body = spec["containers"][cname]
    env_name, _ = env_secret(resource, spec)
    out: dict[str, Any] = {"name": dns_label(cname), "image": body["image"]}
    if body.get("command"):
        out["command"] = list(body["command"])
    if body.get("args"):
        out["args"] = list(body["args"])
    env = [
        {
            "name": key,
            "valueFrom": {"secretKeyRef": {"name": env_name, "key": _env_key(cname, key)}},
        }
        for key in sorted(body.get("env") or {})
    ]
    if env:
        out["env"] = env
    if first and spec.get("ports"):
        out["ports"] = [
            {"containerPort": int(p["port"]), "protocol": p.get("protocol") or "TCP"}
            for p in spec["ports"]
        ]
    out["resources"] = _resources(spec, options)
    out["securityContext"] = _container_security(spec)
    probe = _probe(spec) if first else None
    if probe is not None:
        out["readinessProbe"] = probe
        out["livenessProbe"] = probe
    mounts, volumes = _mounts(resource, spec, cname)
    if mounts:
        out["volumeMounts"] = mounts
    return out, volumes


def pod_template(
    resource: Resource, spec: Mapping[str, Any], options: RenderOptions, *, restart_policy: str
) -> dict[str, Any]:
    """Return the pod template of a workload (``spec`` already validated)."""
    containers: list[dict[str, Any]] = []
    volumes: dict[str, dict[str, Any]] = {}
    for pos, cname in enumerate(sorted(spec["containers"])):
        container, needed = _container(resource, spec, cname, options, pos == 0)
        containers.append(container)
        volumes.update(needed)
    pod: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "restartPolicy": restart_policy,
        "securityContext": _pod_security(spec),
        "containers": containers,
    }
    if volumes:
        pod["volumes"] = [volumes[name] for name in sorted(volumes)]
    template_labels = {**labels(resource, options), **queue_labels(spec, options)}
    return {"metadata": {"labels": template_labels}, "spec": pod}


def _pod_security(spec: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"seccompProfile": {"type": "RuntimeDefault"}}
    if security_settings(spec)["runAsNonRoot"]:
        out.update(
            runAsNonRoot=True, runAsUser=NON_ROOT_ID, runAsGroup=NON_ROOT_ID, fsGroup=NON_ROOT_ID
        )
    return out
