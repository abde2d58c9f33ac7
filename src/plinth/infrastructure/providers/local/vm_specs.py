"""The ``vm`` resource type's spec: its JSON Schema, sizes, and the pure plan of a change.

A VM boots either a kernel and an initramfs (``image.kernel``/``image.initrd``) or a
disk image (``image.disk``, never written: the VM writes to a qcow2 overlay of it).
What the plan compares is the *applied* spec the provider records in the
observation's state (``state["applied"]``): image, vcpus, memory and data disks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from plinth.core.errors import PermanentError
from plinth.infrastructure.providers.base import ChangeAction, Observation, ProviderChange

__all__ = [
    "DEFAULT_CMDLINE",
    "VM_SCHEMA",
    "applied_summary",
    "format_size",
    "parse_size",
    "plan_vm",
    "replace_reasons",
]

DEFAULT_CMDLINE = "console=ttyS0 quiet panic=-1"
"""Kernel command line when ``image.cmdline`` is not given (serial console, exit on panic)."""

_QUANTITY = "^[0-9]+(Ki|Mi|Gi|Ti|K|M|G|T)?$"
_NAME = "^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$"

VM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["image"],
    "properties": {
        "image": {
            "anyOf": [
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["kernel", "initrd"],
                    "properties": {
                        "kernel": {"type": "string", "pattern": "^/"},
                        "initrd": {"type": "string", "pattern": "^/"},
                        "cmdline": {"type": "string", "maxLength": 2048},
                    },
                },
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["disk"],
                    "properties": {"disk": {"type": "string", "pattern": "^/"}},
                },
            ]
        },
        "vcpus": {"type": "integer", "minimum": 1, "maximum": 64},
        "memory": {"type": "string", "pattern": _QUANTITY},
        "disks": {
            "type": "array",
            "maxItems": 16,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "size"],
                "properties": {
                    "name": {"type": "string", "pattern": _NAME},
                    "size": {"type": "string", "pattern": _QUANTITY},
                },
            },
        },
        "ports": {
            "type": "object",
            "propertyNames": {"pattern": _NAME},
            "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 65535},
        },
        "health": {
            "type": "object",
            "additionalProperties": False,
            "required": ["port"],
            "properties": {
                "port": {"type": "string", "minLength": 1},
                "http_path": {"type": "string", "pattern": "^/"},
            },
        },
        "user_data": {"type": "string", "maxLength": 65536},
        "gpu": {
            "type": "object",
            "additionalProperties": False,
            "required": ["count"],
            "properties": {
                "count": {"type": "integer", "minimum": 1, "maximum": 16},
                "type": {"type": "string", "minLength": 1},
            },
        },
        "boot_timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 3600},
    },
}

_UNITS = {
    "": 1,
    "K": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
}


def parse_size(value: str, *, where: str) -> int:
    """Return the bytes a quantity such as ``"256Mi"`` or ``"1G"`` stands for."""
    match = re.fullmatch(r"([0-9]+)([KMGT]i?)?", value.strip())
    if match is None:
        raise PermanentError(f"invalid vm spec: {where} must be a quantity like 256Mi or 1Gi")
    return int(match.group(1)) * _UNITS[match.group(2) or ""]


def format_size(size: int) -> str:
    """Return ``size`` bytes in the largest binary unit that divides it (``"1Gi"``)."""
    for unit in ("Ti", "Gi", "Mi", "Ki"):
        if size >= _UNITS[unit] and size % _UNITS[unit] == 0:
            return f"{size // _UNITS[unit]}{unit}"
    return str(size)


def applied_summary(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Return what the plan compares of a (validated) vm spec: image, vcpus, memory, disks."""
    disks = {
        str(d["name"]): parse_size(str(d["size"]), where=f"spec['disks'][{i}]['size']")
        for i, d in enumerate(spec.get("disks") or [])
    }
    return {
        "image": dict(spec["image"]),
        "vcpus": int(spec.get("vcpus") or 1),
        "memory": parse_size(str(spec.get("memory") or "256Mi"), where="spec['memory']"),
        "disks": disks,
    }


def replace_reasons(after: Mapping[str, Any], before: Mapping[str, Any]) -> list[str]:
    """Return why going from the applied summary ``before`` to ``after`` needs a new machine."""
    reasons = []
    if after["image"] != before.get("image"):
        reasons.append("image changed (a new machine boots; data disks are kept)")
    old_disks: Mapping[str, int] = before.get("disks") or {}
    reasons += [f"disk {n!r} removed" for n in old_disks if n not in after["disks"]]
    return reasons


def plan_vm(desired: Mapping[str, Any], observed: Observation, digest: str) -> ProviderChange:
    """Return the change for a vm: replace, restart to resize, grow disks, or start it again."""
    before = observed.state.get("applied")
    if not observed.exists or not isinstance(before, Mapping):
        return ProviderChange(ChangeAction.CREATE, ("does not exist",))
    try:
        after = applied_summary(desired)
    except PermanentError as exc:
        return ProviderChange(ChangeAction.UPDATE, (f"spec invalid: {exc}",))
    replace = replace_reasons(after, before)
    old_disks: Mapping[str, int] = before.get("disks") or {}
    if replace:
        return ProviderChange(ChangeAction.REPLACE, tuple(replace))
    reasons = []
    resized = []
    if after["vcpus"] != before.get("vcpus"):
        resized.append(f"vcpus {before.get('vcpus')} → {after['vcpus']}")
    if after["memory"] != before.get("memory"):
        old = format_size(int(before.get("memory") or 0))
        resized.append(f"memory {old} → {format_size(after['memory'])}")
    if resized:
        reasons.append("restart to resize: " + ", ".join(resized))
    for name, size in after["disks"].items():
        old_size = old_disks.get(name)
        if old_size is None:
            reasons.append(f"add disk {name!r} ({format_size(size)})")
        elif size > old_size:
            reasons.append(f"grow disk {name!r} {format_size(old_size)} → {format_size(size)}")
        elif size < old_size:
            reasons.append(f"disk {name!r} cannot shrink ({format_size(old_size)} declared)")
    if not reasons and digest != observed.applied_digest:
        reasons.append("spec changed")
    if observed.phase != "running":
        reasons.append("vm not running")
    if reasons:
        return ProviderChange(ChangeAction.UPDATE, tuple(reasons))
    return ProviderChange(ChangeAction.NOOP)
