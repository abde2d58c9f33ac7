"""Secure defaults the planner injects into every rendered resource spec.

Every spec gets a ``security`` block saying what the platform asks for without the
developer asking: processes run as a non-root user with a read-only root file system
and no privilege escalation, the network is default-deny with only the resource's
declared dependencies allowed, traffic between services uses TLS, and data at rest
is encrypted. Which of these apply depends on the resource type (``DEFAULTS``).

A provider says which defaults it enforces by implementing ``EnforcesDefaults``; the
spec records, per default, ``enforced`` or ``declared, not enforced by the <provider>
provider``, so plans and ``plinth describe`` are honest about it.

A workload turns a default off with the annotation ``plinth.dev/security.<name>:
"false"`` (``"true"`` for ``allowPrivilegeEscalation``). The setting is kept but
recorded in ``security.optOuts``; the ``secure_defaults`` rule of the default
policy pack denies such a plan unless a PolicyException covers it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from plinth.core.documents import ResourceSpec
from plinth.core.errors import Issue, SpecError

__all__ = [
    "ANNOTATION_PREFIX",
    "DEFAULTS",
    "EnforcesDefaults",
    "Hardened",
    "ProviderCaps",
    "harden",
    "harden_resource",
    "provider_caps",
    "requested_settings",
]

ANNOTATION_PREFIX = "plinth.dev/security."

_PROCESS = {
    "runAsNonRoot": True,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "networkPolicy": "default-deny",
}
DEFAULTS: dict[str, dict[str, Any]] = {
    "service": {**_PROCESS, "tls": True},
    "job": dict(_PROCESS),
    "model-deployment": {**_PROCESS, "tls": True},
    "mlflow": {**_PROCESS, "tls": True},
    "postgres": {"tls": True, "encryptedAtRest": True},
    "volume": {"encryptedAtRest": True},
    "route": {"tls": True},
    "secret": {"encryptedAtRest": True},
}
"""The defaults of each resource type (a type not listed gets none)."""


@dataclass(frozen=True)
class ProviderCaps:
    """Which defaults a provider enforces for one resource type."""

    provider: str
    enforced: frozenset[str] = frozenset()


@runtime_checkable
class EnforcesDefaults(Protocol):
    """Optional provider ability: say which secure defaults it enforces."""

    def enforced_defaults(self, type_name: str) -> frozenset[str]:
        """Return the names of the defaults enforced for resources of ``type_name``."""
        ...


@dataclass(frozen=True)
class Hardened:
    """A spec with its ``security`` block, and the defaults it turned off."""

    spec: dict[str, Any]
    opt_outs: list[str]


def provider_caps(provider: Any, type_name: str) -> ProviderCaps:
    """Return what ``provider`` enforces for ``type_name`` (nothing when it does not say)."""
    name = str(getattr(provider, "name", "unknown"))
    if isinstance(provider, EnforcesDefaults):
        return ProviderCaps(name, frozenset(provider.enforced_defaults(type_name)))
    return ProviderCaps(name)


def harden(
    resource_type: str,
    spec: Mapping[str, Any],
    *,
    dependencies: Iterable[str],
    provider_caps: ProviderCaps,
) -> Hardened:
    """Return ``spec`` with the secure defaults of its type injected and opt-outs recorded.

    Settings already present in ``spec["security"]`` are kept; one that differs from
    the default is an opt-out.
    """
    defaults = DEFAULTS.get(resource_type, {})
    asked = dict(spec.get("security") or {})
    security: dict[str, Any] = {}
    opt_outs: list[str] = []
    enforcement: dict[str, str] = {}
    for key, default in defaults.items():
        value = asked.get(key, default)
        security[key] = value
        if value != default:
            opt_outs.append(key)
            enforcement[key] = "turned off (opt-out)"
        elif key in provider_caps.enforced:
            enforcement[key] = "enforced"
        else:
            enforcement[key] = f"declared, not enforced by the {provider_caps.provider} provider"
    if "networkPolicy" in defaults:
        security["allow"] = sorted(set(dependencies))
    if defaults:
        security["optOuts"] = opt_outs
        security["enforcement"] = enforcement
    out = {k: v for k, v in spec.items() if k != "security"}
    if security:
        out["security"] = security
    return Hardened(out, opt_outs)


def requested_settings(
    annotations: Mapping[str, str], *, index: int | None = None, file: str | None = None
) -> dict[str, Any]:
    """Return the security settings a workload's annotations ask for; raise SpecError."""
    known = {k for d in DEFAULTS.values() for k in d}
    asked: dict[str, Any] = {}
    issues: list[Issue] = []
    for key, raw in sorted(annotations.items()):
        if not key.startswith(ANNOTATION_PREFIX):
            continue
        name = key[len(ANNOTATION_PREFIX) :]
        path = f"$.metadata.annotations['{key}']"
        if name not in known:
            issues.append(Issue(f"no secure default named {name!r}", path, index, file))
        elif name == "networkPolicy":
            if raw not in ("default-deny", "allow-all"):
                message = "networkPolicy must be 'default-deny' or 'allow-all'"
                issues.append(Issue(message, path, index, file))
            asked[name] = raw
        else:
            text = str(raw).strip().lower()
            if text not in ("true", "false"):
                issues.append(Issue(f"{key} must be 'true' or 'false'", path, index, file))
            asked[name] = text == "true"
    if issues:
        raise SpecError(issues)
    return asked


def harden_resource(
    spec: ResourceSpec,
    *,
    dependencies: Iterable[str],
    provider: Any,
    requested: Mapping[str, Any] | None = None,
) -> ResourceSpec:
    """Return ``spec`` hardened for ``provider``, with the ``requested`` settings applied."""
    defaults = DEFAULTS.get(spec.type, {})
    asked = {k: v for k, v in (requested or {}).items() if k in defaults}
    body = dict(spec.spec)
    if asked:
        body["security"] = {**dict(body.get("security") or {}), **asked}
    hardened = harden(
        spec.type,
        body,
        dependencies=dependencies,
        provider_caps=provider_caps(provider, spec.type),
    )
    return dataclasses.replace(spec, spec=hardened.spec)
