"""From loaded documents to ordered provider resources."""

from __future__ import annotations

from pathlib import Path

import pytest

from plinth.capabilities.catalog.graph import dependents, resources_from_documents
from plinth.capabilities.catalog.loader import load_documents, load_files
from plinth.core.errors import SpecError

FIXTURES = Path(__file__).parents[2] / "integration" / "importers" / "fixtures"


def test_fixtures_become_one_ordered_graph() -> None:
    docs = load_files([FIXTURES / "web.yaml", FIXTURES / "worker.yaml"])
    specs = resources_from_documents(docs)
    names = [s.name for s in specs]
    assert names.count("postgres-main") == 1
    for position, spec in enumerate(specs):
        assert spec.depends_on <= set(names[:position]), spec.name
    assert dependents(specs, "postgres-main") == {"web", "nightly-report", "web-dns"}
    assert dependents(specs, "web-dns") == set()


def test_issues_of_every_workload_are_collected() -> None:
    text = """\
apiVersion: plinth.dev/v1
kind: Team
metadata: {name: ignored}
---
apiVersion: score.dev/v1b1
metadata: {name: a}
containers: {main: {image: x, variables: {X: "${resources.nope.host}"}}}
---
apiVersion: score.dev/v1b1
metadata: {name: b}
containers: {main: {image: x, args: ["${metadata.missing}"]}}
"""
    docs = load_documents(text, file="two.yaml")
    with pytest.raises(SpecError) as info:
        resources_from_documents(docs)
    assert [(i.file, i.document, i.path) for i in info.value.issues] == [
        ("two.yaml", 1, "$.containers.main.variables.X"),
        ("two.yaml", 2, "$.containers.main.args[0]"),
    ]
