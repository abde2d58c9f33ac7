"""From loaded documents to the ordered list of provider resources they ask for."""

from __future__ import annotations

from collections.abc import Iterable

from plinth.core.documents import Document, ResourceSpec, merge_shared, order_resources
from plinth.core.errors import Issue, SpecError
from plinth.integration.importers.score import translate_workload

__all__ = ["dependents", "resources_from_documents"]


def resources_from_documents(documents: Iterable[Document]) -> list[ResourceSpec]:
    """Translate every Workload, merge shared resources and order by dependency."""
    specs: list[ResourceSpec] = []
    issues: list[Issue] = []
    for doc in documents:
        if doc.kind != "Workload":
            continue
        try:
            specs.extend(translate_workload(doc))
        except SpecError as exc:
            issues.extend(exc.issues)
    if issues:
        raise SpecError(issues)
    return order_resources(merge_shared(specs))


def dependents(specs: Iterable[ResourceSpec], name: str) -> set[str]:
    """Return the names of every resource that depends on ``name``, directly or not."""
    users: dict[str, set[str]] = {}
    for spec in specs:
        for dep in spec.depends_on:
            users.setdefault(dep, set()).add(spec.name)
    found: set[str] = set()
    stack = [name]
    while stack:
        for user in users.get(stack.pop(), set()) - found:
            found.add(user)
            stack.append(user)
    return found
