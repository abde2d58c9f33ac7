"""Load declarative documents from YAML and check them against their kind's schema.

Every problem is reported as a ``SpecError`` whose issues name the file, the
document (0-based position in its file) and the JSON path; problems in every
document are collected before raising, so a user sees them all at once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

from plinth.capabilities.catalog import kinds as kinds_module
from plinth.core.documents import Document, json_path
from plinth.core.errors import Issue, SpecError

__all__ = ["MAX_DEPTH", "MAX_VALUES", "load_documents", "load_files"]

MAX_VALUES = 100_000
"""Most values one document may hold once aliases are expanded."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and lists a document may have."""

_MERGE_TAG = "tag:yaml.org,2002:merge"


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys in a mapping."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:
                    continue  # unhashable: the base class reports it with its position
                if duplicate:
                    raise ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {key!r}",
                        key_node.start_mark,
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _yaml_message(exc: BaseException) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        problem = exc.problem or exc.context or "syntax error"
        return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"
    if isinstance(exc, RecursionError):
        return "invalid YAML: nested too deeply"
    return f"invalid YAML: {exc}"


def _parse(
    text: str, file: str | None, max_documents: int
) -> tuple[list[tuple[int, Any]], list[Issue]]:
    """Return ``(index, raw)`` for each non-null document, and parse issues."""
    found: list[tuple[int, Any]] = []
    issues: list[Issue] = []
    index = 0
    try:
        for raw in yaml.load_all(text, Loader=_StrictLoader):
            if index >= max_documents:
                message = f"too many documents (at most {max_documents} per file)"
                issues.append(Issue(message, "$", index, file))
                break
            if raw is not None:
                found.append((index, raw))
            index += 1
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        issues.append(Issue(_yaml_message(exc), "$", index, file))
    return found, issues


def _structure_issues(raw: Any) -> list[tuple[str, str]]:
    """Check keys are strings, nesting is bounded and aliases do not explode or recurse."""
    problems: list[tuple[str, str]] = []
    count = 0
    stack: list[tuple[Any, tuple[str | int, ...], frozenset[int]]] = [(raw, (), frozenset())]
    while stack:
        value, parts, ancestors = stack.pop()
        count += 1
        if count > MAX_VALUES:
            message = f"document is too large (more than {MAX_VALUES} values once aliases expand)"
            return [("$", message)]
        if not isinstance(value, dict | list):
            continue
        if id(value) in ancestors:
            return [(json_path(*parts), "document contains itself through a YAML alias")]
        if len(parts) >= MAX_DEPTH:
            return [(json_path(*parts), f"nested more than {MAX_DEPTH} levels deep")]
        inner = ancestors | {id(value)}
        if isinstance(value, list):
            stack.extend((item, (*parts, i), inner) for i, item in enumerate(value))
            continue
        for key, item in value.items():
            if not isinstance(key, str):
                problems.append((json_path(*parts, str(key)), f"key {key!r} must be a string"))
                continue
            stack.append((item, (*parts, key), inner))
    return sorted(problems)


def _identify(raw: dict[str, Any]) -> tuple[kinds_module.KindInfo | None, list[tuple[str, str]]]:
    """Find the kind of a mapping document from ``apiVersion`` and ``kind``."""
    api_version = raw.get("apiVersion")
    known_versions = ", ".join(sorted(kinds_module.api_versions()))
    if api_version is None:
        return None, [
            ("$.apiVersion", f"missing required field 'apiVersion' (one of: {known_versions})")
        ]
    if api_version not in kinds_module.api_versions():
        message = f"unknown apiVersion {api_version!r} (known: {known_versions})"
        return None, [("$.apiVersion", message)]
    if api_version == kinds_module.SCORE_API_VERSION:
        return kinds_module.find_kind("Workload", api_version), []
    names = ", ".join(sorted(k.kind for k in kinds_module.kinds_of(api_version)))
    kind = raw.get("kind")
    if kind is None:
        return None, [("$.kind", f"missing required field 'kind' (one of: {names})")]
    info = kinds_module.find_kind(kind, api_version) if isinstance(kind, str) else None
    if info is None:
        return None, [("$.kind", f"unknown kind {kind!r} for {api_version} (known: {names})")]
    return info, []


def _minimal_issues(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """Checks for a kind whose schema is not installed: a named metadata mapping."""
    metadata = raw.get("metadata")
    if not isinstance(metadata, dict):
        return [("$.metadata", "missing required field 'metadata' (a mapping with a name)")]
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        return [("$.metadata.name", "missing required field 'name' (a non-empty string)")]
    return []


def _check(raw: Any, index: int, file: str | None) -> tuple[Document | None, list[Issue]]:
    """Validate one parsed document; return it as a ``Document`` when it is valid."""

    def issues(found: list[tuple[str, str]]) -> list[Issue]:
        return [Issue(message, path, index, file) for path, message in found]

    if not isinstance(raw, dict):
        kind = type(raw).__name__
        return None, issues([("$", f"document must be a mapping, not a {kind}")])
    problems = _structure_issues(raw)
    if problems:
        return None, issues(problems)
    info, problems = _identify(raw)
    if info is None:
        return None, issues(problems)
    if kinds_module.has_schema(info.kind):
        try:
            problems = kinds_module.schema_issues(info.kind, raw)
        except RecursionError:
            problems = [("$", "document is nested too deeply to check")]
    else:
        problems = _minimal_issues(raw)
    if problems:
        return None, issues(problems)
    name = raw["metadata"]["name"]
    return Document(info.api_version, info.kind, name, raw, index, file), []


def _duplicates(documents: list[Document]) -> list[Issue]:
    first: dict[tuple[str, str], Document] = {}
    found: list[Issue] = []
    for doc in documents:
        key = (doc.kind, doc.name)
        earlier = first.setdefault(key, doc)
        if earlier is not doc:
            message = f"duplicate {doc.kind} {doc.name!r} (first defined in {earlier.source})"
            found.append(Issue(message, "$.metadata.name", doc.index, doc.file))
    return found


def _load(text: str, file: str | None, max_documents: int) -> tuple[list[Document], list[Issue]]:
    parsed, issues = _parse(text, file, max_documents)
    documents: list[Document] = []
    for index, raw in parsed:
        doc, found = _check(raw, index, file)
        issues.extend(found)
        if doc is not None:
            documents.append(doc)
    if not parsed and not issues:
        issues.append(Issue("file contains no documents", "$", None, file))
    issues.sort(key=lambda i: -1 if i.document is None else i.document)
    return documents, issues


def load_documents(
    text: str, *, file: str | None = None, max_documents: int = 500
) -> list[Document]:
    """Parse and validate every document in ``text``; raise ``SpecError`` listing all issues."""
    documents, issues = _load(text, file, max_documents)
    issues.extend(_duplicates(documents))
    if issues:
        raise SpecError(issues)
    return documents


def load_files(
    paths: Iterable[str | os.PathLike[str]], *, max_documents: int = 500
) -> list[Document]:
    """Load every file in order; raise one ``SpecError`` with the issues of all of them."""
    documents: list[Document] = []
    issues: list[Issue] = []
    for path in paths:
        name = os.fspath(path)
        try:
            with open(name, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            issues.append(Issue("file not found", "$", None, name))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            issues.append(Issue(f"cannot read file: {exc}", "$", None, name))
            continue
        found, file_issues = _load(text, name, max_documents)
        documents.extend(found)
        issues.extend(file_issues)
    issues.extend(_duplicates(documents))
    if issues:
        raise SpecError(issues)
    return documents
