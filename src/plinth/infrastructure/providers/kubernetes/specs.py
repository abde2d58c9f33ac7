"""JSON Schemas of the resolved specs the Kubernetes provider renders, and their validation.

The shapes are the platform's own (those of the local provider, see
``providers.local.specs``), with three differences:

- a workload volume's ``source`` is ``pvc:<claim>[/<sub path>]`` (what a ``volume``
  resource of this provider reports as its ``source`` output) as well as a path;
- ``postgres`` and ``mlflow`` are not declared: they have no Kubernetes form here;
- ``vm`` (issue 9's contract) renders to a KubeVirt ``VirtualMachine``: its schema
  is the local provider's (the params ``render_vm`` realises), whose ``image`` may
  also name ``container_image``, the OCI image that carries the kernel and initrd
  (or the disk) inside the cluster.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator

from plinth.core.errors import PermanentError
from plinth.infrastructure.providers.local.specs import SCHEMAS as LOCAL_SCHEMAS
from plinth.infrastructure.providers.local.specs import plain

__all__ = ["SCHEMAS", "VM_SCHEMA", "validate_spec"]

_CONTAINER_IMAGE = {"type": "string", "minLength": 1}
_VM_PARAMS = (
    "image",
    "vcpus",
    "memory",
    "disks",
    "ports",
    "health",
    "user_data",
    "gpu",
    "boot_timeout_seconds",
    "security",
)
"""The ``vm`` params ``kubevirt.render_vm`` realises: any other is refused, not ignored."""


def _vm_schema(local: dict[str, Any]) -> dict[str, Any]:
    """Return the local provider's ``vm`` schema with ``image.container_image`` added."""
    out = copy.deepcopy(local)
    out["properties"] = {k: v for k, v in out["properties"].items() if k in _VM_PARAMS}
    image = out["properties"]["image"]
    for variant in image.get("anyOf") or image.get("oneOf") or [image]:
        variant["properties"]["container_image"] = _CONTAINER_IMAGE
    return out


VM_SCHEMA: dict[str, Any] = _vm_schema(LOCAL_SCHEMAS["vm"])
"""The ``vm`` contract's schema (one definition, the local provider's) plus ``container_image``."""

_RENDERED = ("service", "job", "volume", "route", "model-deployment", "secret")


def _with_pvc_sources(schema: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(schema)
    volumes = out["properties"].get("volumes")
    if volumes is not None:
        source = volumes["items"]["properties"]["source"]
        source["pattern"] = "^(/|pvc:[a-z0-9])"
    return out


SCHEMAS: dict[str, dict[str, Any]] = {
    **{name: _with_pvc_sources(LOCAL_SCHEMAS[name]) for name in _RENDERED},
    "vm": VM_SCHEMA,
}

_VALIDATORS = {name: Draft202012Validator(schema) for name, schema in SCHEMAS.items()}
_SAFE = {"required", "additionalProperties", "minProperties"}


def validate_spec(type_name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``spec`` against the type's schema; return it as plain data.

    Raises:
        PermanentError: unknown type, or the spec does not match (naming the place, never
            the value, which may be a secret).
    """
    validator = _VALIDATORS.get(type_name)
    if validator is None:
        raise PermanentError(
            f"the kubernetes provider does not realise resource type {type_name!r}"
        )
    data: dict[str, Any] = plain(spec)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "spec" + "".join(f"[{p!r}]" for p in first.absolute_path)
        what = first.message if first.validator in _SAFE else f"fails the {first.validator!r} rule"
        raise PermanentError(f"invalid {type_name} spec: {where} {what}")
    return data
