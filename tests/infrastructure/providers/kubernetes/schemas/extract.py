"""Rebuild the schema files in this folder from KubeVirt's and Kueue's published sources.

Usage: ``python extract.py KUBEVIRT_SWAGGER_JSON KUEUE_CRD_DIR`` where the first is
``api/openapi-spec/swagger.json`` of KubeVirt v1.9.0 and the second is
``config/components/crd/bases`` of Kueue v0.19.2 (see README.md).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

__all__ = ["kubevirt_schema", "kueue_schemas", "main"]

HERE = Path(__file__).parent
ROOT = "v1.VirtualMachine"
KUEUE_KINDS = ("clusterqueues", "cohorts", "localqueues", "resourceflavors")


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref.rsplit("/", 1)[-1])
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def kubevirt_schema(swagger: dict[str, Any]) -> dict[str, Any]:
    """Return the JSON Schema of a VirtualMachine: the closure of its swagger definitions."""
    definitions: dict[str, Any] = swagger["definitions"]
    keep: dict[str, Any] = {}
    todo = [ROOT]
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        keep[name] = definitions[name]
        todo.extend(sorted(_refs(definitions[name]) - keep.keys()))
    return {"$ref": f"#/definitions/{ROOT}", "definitions": dict(sorted(keep.items()))}


def kueue_schemas(crd_dir: Path) -> dict[str, Any]:
    """Return each Kueue kind's openAPIV3Schema of its storage version."""
    out: dict[str, Any] = {}
    for plural in KUEUE_KINDS:
        crd = yaml.safe_load((crd_dir / f"kueue.x-k8s.io_{plural}.yaml").read_text())
        version = next(v for v in crd["spec"]["versions"] if v.get("storage"))
        key = f"kueue.x-k8s.io/{version['name']}/{crd['spec']['names']['kind']}"
        out[key] = version["schema"]["openAPIV3Schema"]
    return out


def main(argv: list[str]) -> None:
    """Write kubevirt-v1.9.0-virtualmachine.json and kueue-v0.19.2.json next to this file."""
    swagger = json.loads(Path(argv[0]).read_text())
    vm = kubevirt_schema(swagger)
    (HERE / "kubevirt-v1.9.0-virtualmachine.json").write_text(json.dumps(vm, indent=1) + "\n")
    kueue = kueue_schemas(Path(argv[1]))
    (HERE / "kueue-v0.19.2.json").write_text(json.dumps(kueue, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
