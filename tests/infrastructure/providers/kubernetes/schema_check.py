"""Validate rendered objects against the official schemas, strictly (unknown fields rejected).

Built-in kinds go to ``kubernetes-validate`` (strict schemas of the Kubernetes minor
versions below); KubeVirt ``VirtualMachine`` and Kueue objects go to the schemas in
``schemas/`` (see its README), made strict the same way: every object schema that
lists its properties rejects others.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
from jsonschema import Draft4Validator, Draft202012Validator

__all__ = ["KUBERNETES_VERSIONS", "crd_errors", "validate_everywhere"]

KUBERNETES_VERSIONS = ("1.36.0", "1.37.0")
SCHEMAS = Path(__file__).parent / "schemas"


def _strict(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items()}
        open_ended = (
            node.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in node
        )
        if "properties" in node and not open_ended:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


@functools.cache
def _kubevirt() -> Draft4Validator:
    schema = json.loads((SCHEMAS / "kubevirt-v1.9.0-virtualmachine.json").read_text())
    return Draft4Validator(_strict(schema))


@functools.cache
def _kueue() -> dict[str, Draft202012Validator]:
    schemas = json.loads((SCHEMAS / "kueue-v0.19.2.json").read_text())
    return {key: Draft202012Validator(_strict(schema)) for key, schema in schemas.items()}


def crd_errors(manifest: dict[str, Any]) -> list[str]:
    """Return the schema errors of a KubeVirt or Kueue object (empty when valid)."""
    key = f"{manifest['apiVersion']}/{manifest['kind']}"
    if key == "kubevirt.io/v1/VirtualMachine":
        validator: Any = _kubevirt()
    elif key in _kueue():
        validator = _kueue()[key]
    else:
        raise KeyError(f"no stored schema for {key}")
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(copy.deepcopy(manifest))
    ]


def validate_everywhere(manifest: dict[str, Any]) -> None:
    """Raise AssertionError unless ``manifest`` is valid for every version it must support."""
    group = str(manifest["apiVersion"]).split("/")[0]
    if group in ("kubevirt.io", "kueue.x-k8s.io"):
        errors = crd_errors(manifest)
        assert not errors, f"{manifest['kind']} {manifest['metadata']['name']}: {errors}"
        return
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            name = manifest["metadata"]["name"]
            raise AssertionError(
                f"{manifest['kind']} {name} invalid for {version}: {exc}"
            ) from None
