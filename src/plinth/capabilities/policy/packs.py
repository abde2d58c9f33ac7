"""Policy packs: the built-in default pack and packs from ``Policy`` documents.

A ``Policy`` document is one version of a pack (``spec.version``); like templates,
versions are immutable and stored side by side, and the newest version of each pack is
the one in force. The default pack lives in ``packs/default/``: every ``*.rego`` file is
a module (``*_test.rego`` files are its tests) and ``pack.yaml`` holds its version, data
and description.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

import yaml

from plinth.capabilities.policy.model import Pack
from plinth.capabilities.templates.model import parse_version
from plinth.core.errors import InvalidInput, Issue, SpecError

__all__ = [
    "builtin_packs",
    "in_force",
    "newest_packs",
    "pack_from_document",
    "policy_document_issues",
    "require_valid",
]

_ENFORCEMENT = ("enforce", "warn")


def _builtin(directory: str) -> Pack:
    root = resources.files("plinth.capabilities.policy").joinpath("packs", directory)
    meta: dict[str, Any] = yaml.safe_load(root.joinpath("pack.yaml").read_text()) or {}
    modules: dict[str, str] = {}
    tests: dict[str, str] = {}
    for item in sorted(root.iterdir(), key=lambda i: i.name):
        if item.name.endswith(".rego"):
            target = tests if item.name.endswith("_test.rego") else modules
            target[item.name.removesuffix(".rego")] = item.read_text()
    return Pack(
        name=str(meta.get("name", directory)),
        version=str(meta["version"]),
        modules=modules,
        tests=tests,
        data=meta.get("data") or {},
        description=str(meta.get("description", "")).strip(),
        enforcement="warn" if meta.get("enforcement") == "warn" else "enforce",
        source="builtin",
    )


@functools.cache
def _shipped() -> tuple[Pack, ...]:
    return (_builtin("default"),)


def builtin_packs() -> list[Pack]:
    """Return the packs shipped with Plinth (the default pack), read once per process."""
    return list(_shipped())


def pack_from_document(body: Mapping[str, Any]) -> Pack:
    """Return the pack a ``Policy`` document declares (its shape already validated)."""
    spec = body.get("spec") or {}
    return Pack(
        name=str(body["metadata"]["name"]),
        version=str(spec.get("version", "")),
        modules=dict(spec.get("modules") or {}),
        tests=dict(spec.get("tests") or {}),
        data=dict(spec.get("data") or {}),
        description=str(spec.get("description", "")),
        enforcement="warn" if spec.get("enforcement") == "warn" else "enforce",
        source="document",
    )


def policy_document_issues(body: Mapping[str, Any]) -> list[Issue]:
    """Return what is wrong with a Policy document beyond its JSON Schema (not the Rego)."""
    spec = body.get("spec") or {}
    issues: list[Issue] = []
    try:
        parse_version(spec.get("version", ""))
    except InvalidInput as exc:
        issues.append(Issue(exc.detail, "$.spec.version"))
    if str(body.get("metadata", {}).get("name")) in {p.name for p in builtin_packs()}:
        issues.append(
            Issue("this name belongs to a built-in pack: choose another name", "$.metadata.name")
        )
    if not spec.get("modules"):
        issues.append(Issue("a policy needs at least one module", "$.spec.modules"))
    if spec.get("enforcement", "enforce") not in _ENFORCEMENT:
        issues.append(Issue("enforcement is enforce or warn", "$.spec.enforcement"))
    return issues


def in_force(documents: Iterable[Mapping[str, Any]]) -> list[Pack]:
    """Return the built-in packs plus the newest version of each Policy document."""
    return newest_packs(pack_from_document(body) for body in documents)


def newest_packs(packs: Iterable[Pack]) -> list[Pack]:
    """Return the built-in packs plus the newest version of each of ``packs``."""
    newest: dict[str, Pack] = {}
    for pack in packs:
        try:
            version = parse_version(pack.version)
        except InvalidInput:
            continue
        held = newest.get(pack.name)
        if held is None or parse_version(held.version) < version:
            newest[pack.name] = pack
    return [*builtin_packs(), *(newest[name] for name in sorted(newest))]


def require_valid(body: Mapping[str, Any], *, index: int | None, file: str | None) -> None:
    """Raise SpecError when a Policy document has problems beyond its schema."""
    issues = policy_document_issues(body)
    if issues:
        raise SpecError([Issue(i.message, i.path, index, file) for i in issues])
