"""The kind registry and the packaged JSON Schemas."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from plinth.capabilities.catalog import kinds


def test_registry() -> None:
    table = {(k.api_version, k.kind): (k.plural, k.namespaced_by) for k in kinds.kinds()}
    assert table == {
        ("score.dev/v1b1", "Workload"): ("workloads", "environment"),
        ("plinth.dev/v1", "Environment"): ("environments", None),
        ("plinth.dev/v1", "Team"): ("teams", None),
        ("plinth.dev/v1", "Project"): ("projects", None),
        ("plinth.dev/v1", "Template"): ("templates", None),
        ("plinth.dev/v1", "Application"): ("applications", "environment"),
        ("plinth.dev/v1", "Budget"): ("budgets", None),
        ("plinth.dev/v1", "PriceBook"): ("pricebooks", None),
        ("plinth.dev/v1", "Agent"): ("agents", None),
        ("plinth.dev/v1", "McpServer"): ("mcpservers", None),
        ("plinth.dev/v1", "AuthorizationPolicy"): ("authorizationpolicies", None),
        ("plinth.dev/v1", "Model"): ("models", None),
        ("plinth.dev/v1", "AcceleratorPool"): ("acceleratorpools", None),
        ("plinth.dev/v1", "Policy"): ("policies", None),
        ("plinth.dev/v1", "PolicyException"): ("policyexceptions", None),
        ("plinth.dev/v1", "LlmProvider"): ("llmproviders", None),
        ("plinth.dev/v1", "LlmAccess"): ("llmaccesses", None),
    }
    assert kinds.find_kind("Workload", "plinth.dev/v1") is None
    info = kinds.find_kind("Team")
    assert info is not None and info.schema == "team.schema.json"
    assert kinds.api_versions() == ["score.dev/v1b1", "plinth.dev/v1"]


@pytest.mark.parametrize(
    "kind", ["Workload", "Environment", "Team", "Project", "Budget", "PriceBook"]
)
def test_own_schemas_are_valid_draft_2020_12(kind: str) -> None:
    schema = kinds.json_schema(kind)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize("kind", ["Environment", "Team", "Project", "Budget", "PriceBook"])
def test_plinth_kinds_are_closed(kind: str) -> None:
    schema = kinds.json_schema(kind)
    assert schema["$defs"]["metadata"]["additionalProperties"] is False
    assert schema["properties"]["spec"]["additionalProperties"] is False


def test_json_schema_returns_a_copy() -> None:
    kinds.json_schema("Team")["title"] = "changed"
    assert kinds.json_schema("Team")["title"] != "changed"


def test_unknown_kind() -> None:
    with pytest.raises(KeyError, match="known: Workload"):
        kinds.json_schema("Gadget")


def test_schema_issues_reports_sorted_paths() -> None:
    raw = {"apiVersion": "plinth.dev/v1", "kind": "Project", "metadata": {"name": "p"}}
    assert kinds.schema_issues("Project", raw) == [("$.spec", "missing required field 'spec'")]
    raw["spec"] = {"team": "t"}
    assert kinds.schema_issues("Project", raw) == []


def test_kind_without_installed_schema_still_needs_a_name() -> None:
    from plinth.capabilities.catalog.loader import load_documents
    from plinth.core.errors import SpecError

    with pytest.raises(SpecError) as info:
        load_documents("apiVersion: plinth.dev/v1\nkind: Template\nmetadata: {}\n")
    assert info.value.issues[0].document == 0


def test_public_surfaces_are_pinned() -> None:
    from plinth.capabilities.catalog import graph, loader
    from plinth.core import documents, placeholders
    from plinth.integration.importers import score

    assert sorted(kinds.__all__) == [
        "KindInfo", "PLINTH_API_VERSION", "SCORE_API_VERSION", "api_versions", "find_kind",
        "has_schema", "json_schema", "kinds", "kinds_of", "schema_issues",
    ]  # fmt: skip
    assert sorted(loader.__all__) == ["MAX_DEPTH", "MAX_VALUES", "load_documents", "load_files"]
    assert sorted(graph.__all__) == ["dependents", "resources_from_documents"]
    assert sorted(documents.__all__) == [
        "Document", "ResourceSpec", "json_path", "merge_shared", "order_resources",
        "parse_provenance", "provenance",
    ]  # fmt: skip
    assert sorted(placeholders.__all__) == [
        "MalformedPlaceholder", "PlaceholderError", "Reference", "UnresolvedPlaceholder",
        "escape", "find_placeholders", "join_reference", "split_reference", "substitute",
    ]  # fmt: skip
    assert sorted(score.__all__) == [
        "ANNOTATION_SCHEDULE", "ANNOTATION_TIMEOUT", "ANNOTATION_TYPE", "merge_shared",
        "order_resources", "resource_name", "translate_workload",
    ]  # fmt: skip
    for module in (kinds, loader, graph, documents, placeholders, score):
        assert all(hasattr(module, name) for name in module.__all__)
