"""Translate Score workloads (``score.dev/v1b1``) into provider resources.

One workload becomes one ``service`` (or ``job``) resource plus one resource per
entry of its ``resources`` map. ``${metadata...}`` placeholders are filled in
here; ``${resources.<key>...}`` placeholders are rewritten to the canonical
``${resources.<resource name>...}`` and resolved later, once the referenced
resources exist. A resource with an ``id`` is shared by every workload that
declares the same type and id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from croniter import croniter

from plinth.core.documents import (
    Document,
    ResourceSpec,
    json_path,
    merge_shared,
    order_resources,
    provenance,
)
from plinth.core.errors import InvalidInput, Issue, SpecError
from plinth.core.placeholders import (
    PlaceholderError,
    Reference,
    escape,
    find_placeholders,
    join_reference,
    split_reference,
    substitute,
)
from plinth.core.quantities import format_quantity, parse_quantity
from plinth.integration.importers.accelerators import (
    ACCELERATOR_KINDS,
    NOTEBOOK_LIMIT_S,
    accelerator_fields,
)
from plinth.integration.importers.lifecycle import (
    ANNOTATION_STOPPED,
    ANNOTATION_TTL,
    parse_stopped,
    parse_ttl,
)

__all__ = [
    "ANNOTATION_SCHEDULE",
    "ANNOTATION_TIMEOUT",
    "ANNOTATION_TYPE",
    "merge_shared",
    "order_resources",
    "resource_name",
    "translate_workload",
]

ANNOTATION_TYPE = "plinth.dev/type"
ANNOTATION_SCHEDULE = "plinth.dev/schedule"
ANNOTATION_TIMEOUT = "plinth.dev/timeout-seconds"

_NOT_LABEL = re.compile(r"[^a-z0-9-]+")


def resource_name(text: str) -> str:
    """Return ``text`` as a DNS label: lower case, ``[a-z0-9-]``, at most 63 characters."""
    label = _NOT_LABEL.sub("-", text.lower()).strip("-")
    label = re.sub("-{2,}", "-", label)
    return label[:63].rstrip("-")


@dataclass
class _Workload:
    """What translating one Score document needs, and the issues found on the way."""

    doc: Document
    names: dict[str, str] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.doc.name

    def issue(self, message: str, *parts: str | int) -> None:
        self.issues.append(Issue(message, json_path(*parts), self.doc.index, self.doc.file))

    def resolve(self, ref: str) -> Any:
        """Fill in ``metadata`` now; rewrite ``resources`` references to resource names."""
        parts = split_reference(ref)
        if parts[0] == "metadata":
            value: Any = self.doc.metadata
            for part in parts[1:]:
                if not isinstance(value, dict) or part not in value:
                    raise KeyError(f"the workload metadata has no {join_reference(parts[1:])!r}")
                value = value[part]
            return value
        if parts[0] == "resources" and len(parts) >= 2:
            if parts[1] not in self.names:
                raise KeyError(f"the workload declares no resource {parts[1]!r}")
            rest = parts[2:] or ["source"]
            return Reference(join_reference(["resources", self.names[parts[1]], *rest]))
        raise KeyError("a placeholder starts with 'metadata.' or 'resources.'")

    def expand(self, value: Any, *parts: str | int) -> Any:
        """Substitute placeholders in ``value`` (found at ``parts``); record errors, giving None."""
        try:
            return substitute(value, self.resolve, path=json_path(*parts), final=False)
        except PlaceholderError as exc:
            self.issues.append(Issue(exc.message, exc.path, self.doc.index, self.doc.file))
            return None  # the spec is dropped: translate_workload raises with the issues


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _entries(value: Any, key: str) -> list[tuple[str | int, dict[str, Any]]]:
    """Return ``(position, item)`` for the list form and the map form (target → item)."""
    if isinstance(value, list):
        return [(i, dict(item)) for i, item in enumerate(value)]
    if isinstance(value, dict):
        return [(target, {**item, key: target}) for target, item in value.items()]
    return []


def _file_content(w: _Workload, item: dict[str, Any], parts: tuple[str | int, ...]) -> str:
    if "content" in item:
        content = str(item["content"])
    else:
        if w.doc.file is None:
            w.issue("a file 'source' needs the workload's file location", *parts, "source")
            return ""
        path = Path(w.doc.file).parent / str(item["source"])
        try:
            content = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            w.issue(f"cannot read file source {str(path)!r}: {exc}", *parts, "source")
            return ""
    if item.get("noExpand"):
        return escape(content)
    key = "content" if "content" in item else "source"
    expanded = w.expand(content, *parts, key)
    return expanded if isinstance(expanded, str) else _text(expanded)


def _container(w: _Workload, name: str, c: dict[str, Any]) -> dict[str, Any]:
    base = ("containers", name)
    env = {
        key: _text(w.expand(value, *base, "variables", key))
        for key, value in sorted(c.get("variables", {}).items())
    }
    files = [
        {
            "target": item["target"],
            "content": _file_content(w, item, (*base, "files", pos)),
            "mode": item.get("mode"),
        }
        for pos, item in _entries(c.get("files"), "target")
    ]
    return {
        "image": c["image"],
        "command": w.expand(list(c.get("command", [])), *base, "command"),
        "args": w.expand(list(c.get("args", [])), *base, "args"),
        "env": env,
        "files": sorted(files, key=lambda f: str(f["target"])),
    }


def _volumes(w: _Workload, containers: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for cname in sorted(containers):
        mounts = _entries(containers[cname].get("volumes"), "target")
        for pos, item in sorted(mounts, key=lambda m: str(m[1]["target"])):
            source = str(item["source"])
            key = source
            if source.startswith("${") and source.endswith("}"):
                ref = split_reference(source[2:-1])
                key = ref[1] if ref[0] == "resources" and len(ref) >= 2 else ""
            if key not in w.names:
                w.issue(
                    f"volume source {source!r} is not a resource of this workload",
                    *("containers", cname, "volumes", pos, "source"),
                )
                continue
            target = f"${{resources.{w.names[key]}.path}}"
            sub = str(item.get("path", "")).strip("/")
            out.append(
                {
                    "source": f"{target}/{sub}" if sub else target,
                    "target": item["target"],
                    "read_only": bool(item.get("readOnly", False)),
                }
            )
    return out


def _sum_quantity(w: _Workload, key: str, containers: dict[str, Any]) -> str | None:
    """Add up ``cpu`` or ``memory`` over containers (limits, else requests)."""
    found: list[tuple[str, str, Any]] = []
    for cname in sorted(containers):
        amounts = containers[cname].get("resources", {})
        kind = next((k for k in ("limits", "requests") if key in amounts.get(k, {})), None)
        if kind is not None:
            found.append((cname, kind, amounts[kind][key]))
    total = Decimal(0)
    for cname, kind, raw in found:
        try:
            total += parse_quantity(raw)
        except InvalidInput:
            w.issue(f"invalid {key} quantity {raw!r}", "containers", cname, "resources", kind, key)
            return None
    if len(found) <= 1:
        return str(found[0][2]) if found else None
    return format_quantity(total, binary=key == "memory")


def _healthcheck(w: _Workload, containers: dict[str, Any], ports: list[dict[str, Any]]) -> Any:
    for cname in sorted(containers):
        c = containers[cname]
        kind = "readinessProbe" if "readinessProbe" in c else "livenessProbe"
        probe = c.get(kind)
        if probe is None:
            continue
        if "exec" in probe:
            return {"exec": {"command": list(probe["exec"]["command"])}}
        http = probe["httpGet"]
        declared = w.doc.raw.get("service", {}).get("ports", {})
        matching = [
            n
            for n, p in sorted(declared.items())
            if http["port"] in (p["port"], p.get("targetPort"))
        ]
        if not ports:
            w.issue("an httpGet probe needs a service port", "containers", cname, kind, "httpGet")
            return None
        port_name = matching[0] if matching else ports[0]["name"]
        return {"http": {"path": http["path"], "port": port_name}}
    return None


def _workload_type(w: _Workload) -> str:
    kind = w.doc.annotations.get(ANNOTATION_TYPE, "service")
    if kind not in ("service", "job", *ACCELERATOR_KINDS):
        w.issue(
            f"{ANNOTATION_TYPE} must be 'service', 'job' or one of "
            f"{', '.join(ACCELERATOR_KINDS)}, not {kind!r}",
            "metadata",
            "annotations",
            ANNOTATION_TYPE,
        )
    return "job" if kind in ("job", *ACCELERATOR_KINDS) else "service"


def _job_fields(w: _Workload) -> dict[str, Any]:
    annotations = w.doc.annotations
    schedule = annotations.get(ANNOTATION_SCHEDULE)
    if schedule is not None and not croniter.is_valid(schedule):
        w.issue(
            f"invalid cron schedule {schedule!r}", "metadata", "annotations", ANNOTATION_SCHEDULE
        )
    timeout_text = annotations.get(ANNOTATION_TIMEOUT)
    timeout: int | None = None
    if timeout_text is not None:
        if timeout_text.isdigit() and int(timeout_text) > 0:
            timeout = int(timeout_text)
        else:
            w.issue(
                f"{ANNOTATION_TIMEOUT} must be a positive whole number of seconds",
                "metadata",
                "annotations",
                ANNOTATION_TIMEOUT,
            )
    return {"schedule": schedule, "timeout_s": timeout}


def _lifecycle_fields(w: _Workload) -> dict[str, Any]:
    """Return ``{"stopped": True}`` for a stopped workload; check the TTL annotation too."""
    annotations = w.doc.annotations
    fields: dict[str, Any] = {}
    for key in (ANNOTATION_STOPPED, ANNOTATION_TTL):
        if key not in annotations:
            continue
        try:
            if key == ANNOTATION_TTL:
                parse_ttl(annotations[key])
            elif parse_stopped(annotations[key]):
                fields["stopped"] = True
        except InvalidInput as exc:
            w.issue(exc.detail, "metadata", "annotations", key)
    return fields


def _workload_spec(w: _Workload, rtype: str) -> dict[str, Any]:
    containers: dict[str, Any] = w.doc.raw["containers"]
    declared = w.doc.raw.get("service", {}).get("ports", {})
    ports = [
        {"name": n, "port": p["port"], "protocol": p.get("protocol", "TCP")}
        for n, p in sorted(declared.items())
    ]
    spec: dict[str, Any] = {
        "containers": {n: _container(w, n, containers[n]) for n in sorted(containers)},
        "resources": {k: _sum_quantity(w, k, containers) for k in ("cpu", "memory")},
        "volumes": _volumes(w, containers),
    }
    # Only a stopped workload carries the key, so a running one keeps its spec digest.
    spec |= _lifecycle_fields(w)
    kind = w.doc.annotations.get(ANNOTATION_TYPE, "service")
    extra, problems = accelerator_fields(kind, w.doc.annotations)
    for key, message in problems:
        w.issue(message, "metadata", "annotations", key)
    spec |= {k: v for k, v in extra.items() if k != "idle_stop_s"}
    if rtype == "job":
        job = _job_fields(w)
        if kind == "notebook":
            job["timeout_s"] = job["timeout_s"] or NOTEBOOK_LIMIT_S
            job["idle_stop_s"] = extra["idle_stop_s"]
        return spec | job
    healthcheck = _healthcheck(w, containers, ports)
    return spec | {"ports": ports, "healthcheck": healthcheck, "restart": "always"}


def _resource_spec(w: _Workload, key: str, declared: dict[str, Any]) -> dict[str, Any]:
    rtype = declared["type"]
    params = w.expand(declared.get("params", {}), "resources", key, "params")
    if not isinstance(params, dict):
        return {}
    if rtype == "postgres":
        return {"database": params.get("database")}
    if rtype == "volume":
        return {"size": params.get("size")}
    if rtype != "route":
        return params
    ports = w.doc.raw.get("service", {}).get("ports", {})
    names = [n for n, p in sorted(ports.items()) if p["port"] == params.get("port")]
    if not names:
        known = ", ".join(f"{n}={p['port']}" for n, p in sorted(ports.items())) or "none"
        w.issue(
            f"route port {params.get('port')!r} matches no service port (ports: {known})",
            "resources",
            key,
            "params",
            "port",
        )
        return {}
    return {
        "host": params.get("host"),
        "path": params.get("path") or "/",
        "port": params.get("port"),
        "backend_url": f"${{resources.{w.name}.urls.{names[0]}}}",
    }


def _depends_on(name: str, spec: dict[str, Any]) -> frozenset[str]:
    refs = (split_reference(r) for r in find_placeholders(spec))
    return frozenset(p[1] for p in refs if p[0] == "resources" and len(p) >= 2) - {name}


def _name_resources(w: _Workload) -> None:
    taken = {w.name: "the workload itself"}
    for key, declared in sorted(w.doc.raw.get("resources", {}).items()):
        shared = "id" in declared
        base = f"{declared['type']}-{declared['id']}" if shared else f"{w.name}-{key}"
        name = resource_name(base)
        if not name:
            w.issue(f"cannot make a resource name from {base!r}", "resources", key)
        elif name in taken and not (shared and taken[name] == "shared"):
            w.issue(f"resource name {name!r} is already used by {taken[name]}", "resources", key)
        taken[name] = "shared" if shared else f"resources.{key}"
        w.names[key] = name


def translate_workload(doc: Document) -> list[ResourceSpec]:
    """Return the workload's own resource followed by one resource per Score resource."""
    if doc.kind != "Workload":
        raise SpecError(
            [Issue(f"expected a Workload, got a {doc.kind}", "$.kind", doc.index, doc.file)]
        )
    w = _Workload(doc)
    _name_resources(w)
    rtype = _workload_type(w)
    spec = _workload_spec(w, rtype)
    out = [
        ResourceSpec(
            w.name,
            rtype,
            spec,
            w.name,
            _depends_on(w.name, spec),
            provenance(doc.file, doc.index),
            False,
        )
    ]
    for key, declared in sorted(doc.raw.get("resources", {}).items()):
        name = w.names[key]
        shared = "id" in declared
        rspec = _resource_spec(w, key, declared)
        out.append(
            ResourceSpec(
                name,
                declared["type"],
                rspec,
                None if shared else w.name,
                _depends_on(name, rspec),
                provenance(doc.file, doc.index, f"resources.{key}"),
                shared,
            )
        )
    if w.issues:
        raise SpecError(w.issues)
    return out
