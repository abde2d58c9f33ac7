"""The object store behind ``FakeKubeApiServer``: validation and server-side apply.

Kept apart from the HTTP side (``kube_apiserver``) so each stays small. What it
does the way the real API server does, and where it simplifies, is described in
``kube_apiserver``'s docstring.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]

__all__ = ["ApiError", "ObjectStore", "group_of"]

Obj = dict[str, Any]

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
_SUBDOMAIN_RULE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character"
)
_KEYS = ("name", "namespace", "labels", "annotations")


_BUILT_IN_GROUPS = ("", "apps", "batch", "networking.k8s.io")


@functools.lru_cache(maxsize=512)
def _schema_problem(text: str) -> str:
    """Return why the official strict schema rejects an object (empty when it accepts it)."""
    try:
        kubernetes_validate.validate(json.loads(text), "1.37.0", strict=True)
    except kubernetes_validate.ValidationError as exc:
        return str(exc).splitlines()[0]
    return ""


class ApiError(Exception):
    """An error answered as a ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str, details: Obj | None = None) -> None:
        super().__init__(message)
        self.status: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }
        if details is not None:
            self.status["details"] = details


def group_of(api_version: str) -> str:
    """Return the API group of ``api_version`` (empty for the core group)."""
    return api_version.split("/")[0] if "/" in api_version else ""


def _resource(kind_plural: str, api_version: str) -> str:
    group = group_of(api_version)
    return f"{kind_plural}.{group}" if group else kind_plural


def _leaves(value: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Yield the field paths set in ``value`` (maps recurse; lists and scalars are leaves)."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _leaves(item, (*prefix, key))
    elif prefix:
        yield prefix


def _get(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def _set(obj: Obj, path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        obj = obj.setdefault(key, {})
    obj[path[-1]] = copy.deepcopy(value)


def _remove(obj: Obj, path: tuple[str, ...]) -> None:
    parent = _get(obj, path[:-1]) if len(path) > 1 else obj
    if isinstance(parent, dict):
        parent.pop(path[-1], None)


def _fields_v1(paths: set[tuple[str, ...]]) -> Obj:
    out: Obj = {}
    for path in sorted(paths):
        node = out
        for key in path:
            node = node.setdefault(f"f:{key}", {})
    return out


def _paths_of(fields: Obj, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    out: set[tuple[str, ...]] = set()
    for key, child in fields.items():
        path = (*prefix, key[2:])
        out |= _paths_of(child, path) if child else {path}
    return out


def _owned(obj: Obj) -> list[tuple[Obj, set[tuple[str, ...]]]]:
    return [(e, _paths_of(e["fieldsV1"])) for e in obj["metadata"].get("managedFields", [])]


def _tracked(body: Obj) -> set[tuple[str, ...]]:
    """Return the field paths a request sets that managers own (identity excluded)."""
    return {
        p
        for p in _leaves(body)
        if p[0] not in ("apiVersion", "kind", "status")
        and p[:2] not in (("metadata", "name"), ("metadata", "namespace"))
        and (p[0] != "metadata" or p[1] in _KEYS)
    }


def _conflicts(
    entries: list[tuple[Obj, set[tuple[str, ...]]]],
    current: Obj,
    body: Obj,
    manager: str,
    mine: set[tuple[str, ...]],
) -> list[tuple[str, tuple[str, ...]]]:
    """Return (manager, field) for each field another manager owns that ``body`` changes."""
    return [
        (entry["manager"], path)
        for entry, paths in entries
        if entry["manager"] != manager
        for path in paths & mine
        if _get(current, path) != _get(body, path)
    ]


class ObjectStore:
    """Objects by (apiVersion, plural, namespace, name), with managed fields per manager."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str, str], Obj] = {}
        self._version = 100
        self.lock = threading.RLock()

    def find(self, api_version: str, plural: str, namespace: str, name: str) -> Obj | None:
        """Return a copy of one stored object, or None."""
        with self.lock:
            found = self.objects.get((api_version, plural, namespace, name))
            return copy.deepcopy(found) if found else None

    def all_with_label(self, key: str, value: str) -> list[Obj]:
        """Return every stored object whose label ``key`` is ``value``."""
        with self.lock:
            return [
                copy.deepcopy(o)
                for o in self.objects.values()
                if o["metadata"].get("labels", {}).get(key) == value
            ]

    def set_status(
        self, api_version: str, plural: str, namespace: str, name: str, status: Obj
    ) -> None:
        """Set an object's ``status`` as its controller would (a new resourceVersion)."""
        with self.lock:
            obj = self.objects[(api_version, plural, namespace, name)]
            obj["status"] = copy.deepcopy(status)
            self._bump(obj)

    def update_as(
        self, manager: str, api_version: str, plural: str, namespace: str, name: str, patch: Obj
    ) -> None:
        """Merge ``patch`` into an object as an ``Update`` by ``manager`` (like kubectl edit)."""
        with self.lock:
            self.merge_update(api_version, plural, namespace, name, patch, manager)

    def next_version(self) -> str:
        """Return a fresh resourceVersion."""
        self._version += 1
        return str(self._version)

    def _bump(self, obj: Obj) -> None:
        obj["metadata"]["resourceVersion"] = self.next_version()

    def validate(self, obj: Obj, plural: str) -> None:
        """Raise 422 the way the API server does for an object it would not store."""
        meta = obj.get("metadata") or {}
        name = str(meta.get("name") or "")
        kind = str(obj.get("kind"))
        what = f'{kind}.{group_of(str(obj.get("apiVersion")))} "{name}"'.replace('. "', ' "')
        causes: list[tuple[str, str]] = []
        if not _SUBDOMAIN.match(name) or len(name) > 253:
            causes.append(("metadata.name", f'Invalid value: "{name}": {_SUBDOMAIN_RULE}'))
        for pos, rule in enumerate((obj.get("spec") or {}).get("rules") or []):
            host = str(rule.get("host") or "")
            if kind == "Ingress" and host and not _SUBDOMAIN.match(host.removeprefix("*.")):
                field = f"spec.rules[{pos}].host"
                causes.append((field, f'Invalid value: "{host}": {_SUBDOMAIN_RULE}'))
        for path in _leaves(obj.get("spec") or {}):
            if path[-2:-1] in (("requests",), ("limits",)):
                value = str(_get(obj["spec"], path))
                if not _QUANTITY.match(value):
                    field = "spec." + ".".join(path)
                    causes.append((field, f'Invalid value: "{value}": quantities must match'))
        if not causes and group_of(str(obj.get("apiVersion"))) in _BUILT_IN_GROUPS:
            public = {k: v for k, v in meta.items() if k in ("name", "namespace", *_KEYS)}
            problem = _schema_problem(json.dumps({**obj, "metadata": public}, sort_keys=True))
            if problem:
                causes.append(("", problem))
        if causes:
            text = ", ".join(f"{f}: {m}" if f else m for f, m in causes)
            details = {
                "name": name,
                "group": group_of(str(obj.get("apiVersion"))),
                "kind": kind,
                "causes": [
                    {"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes
                ],
            }
            raise ApiError(422, "Invalid", f"{what} is invalid: {text}", details)

    def apply(
        self,
        key: tuple[str, str, str, str],
        body: Obj,
        manager: str,
        *,
        force: bool,
        dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """Server-side apply ``body`` as ``manager``; return the object and whether it is new."""
        api_version, plural, namespace, name = key
        current = self.objects.get(key)
        created = current is None
        merged: Obj = (
            copy.deepcopy(current)
            if current
            else {
                "apiVersion": api_version,
                "kind": body.get("kind"),
                "metadata": {"name": name, "managedFields": []},
            }
        )
        if namespace:
            merged["metadata"]["namespace"] = namespace
        mine = _tracked(body)
        entries = _owned(merged)
        conflicts = _conflicts(entries, merged, body, manager, mine)
        if conflicts and not force:
            self._conflict(body, plural, name, conflicts)
        previous = next((p for e, p in entries if e["manager"] == manager), set())
        others = set().union(*(p for e, p in entries if e["manager"] != manager))
        for path in sorted(previous - mine - others, key=len, reverse=True):
            _remove(merged, path)
        for path in mine:
            _set(merged, path, _get(body, path))
        kept = []
        for entry, paths in entries:
            if entry["manager"] == manager:
                kept.append(self._entry(manager, "Apply", api_version, mine))
                continue
            rest = paths - {path for _, path in conflicts} if force else paths
            if rest:
                kept.append({**entry, "fieldsV1": _fields_v1(rest)})
        if not previous:
            kept.append(self._entry(manager, "Apply", api_version, mine))
        return self._store(key, current, merged, kept, dry_run=dry_run), created

    def merge_update(
        self, api_version: str, plural: str, namespace: str, name: str, patch: Obj, manager: str
    ) -> Obj:
        """Apply a JSON merge patch as an ``Update`` by ``manager``, taking the fields it sets."""
        key = (api_version, plural, namespace, name)
        current = self.objects.get(key)
        if current is None:
            raise self.not_found(api_version, plural, name)
        merged = copy.deepcopy(current)
        changed = _tracked(patch)
        for path in changed:
            value = _get(patch, path)
            _remove(merged, path) if value is None else _set(merged, path, value)
        kept = []
        mine = next((p for e, p in _owned(merged) if e["manager"] == manager), set())
        for entry, paths in _owned(merged):
            rest = paths - changed
            if entry["manager"] != manager and rest:
                kept.append({**entry, "fieldsV1": _fields_v1(rest)})
        kept.append(self._entry(manager, "Update", api_version, mine | changed))
        return self._store(key, current, merged, kept)

    def _entry(self, manager: str, operation: str, api_version: str, paths: set[Any]) -> Obj:
        return {
            "manager": manager,
            "operation": operation,
            "apiVersion": api_version,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "fieldsType": "FieldsV1",
            "fieldsV1": _fields_v1(paths),
        }

    def _store(
        self,
        key: Any,
        current: Obj | None,
        merged: Obj,
        managed: list[Obj],
        *,
        dry_run: bool = False,
    ) -> Obj:
        """Write ``merged`` unless nothing but timestamps changed; return what is stored."""
        if current is not None:
            before = {k: v for k, v in current.items() if k != "metadata"}
            after = {k: v for k, v in merged.items() if k != "metadata"}
            strip = ("managedFields", "resourceVersion")
            same_meta = {k: v for k, v in current["metadata"].items() if k not in strip} == {
                k: v for k, v in merged["metadata"].items() if k not in strip
            }
            owners = [(e["manager"], e["fieldsV1"]) for e in current["metadata"]["managedFields"]]
            if (
                before == after
                and same_meta
                and owners == [(e["manager"], e["fieldsV1"]) for e in managed]
            ):
                return copy.deepcopy(current)
            if before.get("spec") != after.get("spec"):
                merged["metadata"]["generation"] = int(merged["metadata"].get("generation", 1)) + 1
        else:
            merged["metadata"]["uid"] = f"uid-{self._version + 1}"
            merged["metadata"]["generation"] = 1
            merged["metadata"]["creationTimestamp"] = datetime.now(UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
        merged["metadata"]["managedFields"] = managed
        self.validate(merged, key[1])
        if dry_run:
            return copy.deepcopy(merged)
        self._bump(merged)
        self.objects[key] = merged
        return copy.deepcopy(merged)

    def _conflict(self, body: Obj, plural: str, name: str, conflicts: list[Any]) -> None:
        lines = [f'conflict with "{m}": .{".".join(p)}' for m, p in sorted(conflicts)]
        message = (
            "Apply failed with "
            + (f"{len(lines)} conflicts: " if len(lines) > 1 else "1 conflict: ")
            + "\n".join(lines)
        )
        causes = [
            {
                "reason": "FieldManagerConflict",
                "message": f'conflict with "{m}"',
                "field": "." + ".".join(p),
            }
            for m, p in sorted(conflicts)
        ]
        details = {
            "name": name,
            "group": group_of(str(body.get("apiVersion"))),
            "kind": plural,
            "causes": causes,
        }
        raise ApiError(409, "Conflict", message, details)

    def not_found(self, api_version: str, plural: str, name: str) -> ApiError:
        """Return the 404 the API server answers for an absent object."""
        details = {"name": name, "group": group_of(api_version), "kind": plural}
        return ApiError(
            404, "NotFound", f'{_resource(plural, api_version)} "{name}" not found', details
        )
