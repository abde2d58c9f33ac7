"""The Agent, McpServer and AuthorizationPolicy kinds: schemas, defaults and errors with paths."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from plinth.capabilities.agents.spec import AUDIENCES, AgentSpec, Autonomy, parse_agent_spec
from plinth.capabilities.catalog import kinds
from plinth.capabilities.catalog.loader import load_documents
from plinth.core.errors import InvalidInput, SpecError

NEW_KINDS = ["Agent", "McpServer", "AuthorizationPolicy"]


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_schemas_are_valid_and_closed(kind: str) -> None:
    schema = kinds.json_schema(kind)
    Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    assert schema["properties"]["spec"]["additionalProperties"] is False
    assert schema["$defs"]["metadata"]["additionalProperties"] is False


def test_kinds_are_registered() -> None:
    found = {(k.kind, k.plural, k.namespaced_by) for k in kinds.kinds_of("plinth.dev/v1")}
    assert {
        ("Agent", "agents", None),
        ("McpServer", "mcpservers", None),
        ("AuthorizationPolicy", "authorizationpolicies", None),
    } <= found


def test_defaults() -> None:
    spec = parse_agent_spec("helper", {"team": "payments", "purpose": "deploys previews"})
    assert spec == AgentSpec(name="helper", team="payments", purpose="deploys previews")
    assert spec.token_ttl_seconds == 900
    assert spec.audiences == AUDIENCES
    assert spec.actions == ("read", "plan", "apply")
    assert spec.autonomy == Autonomy()
    assert spec.autonomy.approval_ttl_seconds == 86400
    assert not spec.autonomy.may_delete and not spec.autonomy.may_touch_prod


def full_spec() -> dict[str, Any]:
    """Every field of an Agent spec."""
    return {
        "team": "payments",
        "purpose": "keeps previews fresh",
        "identity": {"token_ttl_seconds": 300, "audiences": ["plinth-mcp"]},
        "context": {"read": ["Workload", "Application"]},
        "capability": {"actions": ["read", "plan"], "tools": ["time/*", "git/log"]},
        "execution": {
            "environments": ["dev"],
            "quotas": {"cpu": "2", "memory": "4Gi", "accelerators": 1},
        },
        "evaluation": {"checks": ["unit-tests"]},
        "security": {"egress": ["api.github.com:443", "*.pypi.org"], "data_classes": ["public"]},
        "observability": {"log": ["tool-calls"]},
        "autonomy": {
            "actions": ["create", "update"],
            "environments": ["dev"],
            "max_cost_delta_per_change": "12.50",
            "max_cost_delta_per_day": 40,
            "max_accelerators": 0,
            "may_delete": False,
            "may_touch_prod": False,
            "approval_ttl_seconds": 3600,
        },
    }


def test_every_field() -> None:
    spec = parse_agent_spec("previewer", full_spec())
    assert spec.token_ttl_seconds == 300 and spec.audiences == ("plinth-mcp",)
    assert spec.read == ("Workload", "Application")
    assert spec.actions == ("read", "plan") and spec.tools == ("time/*", "git/log")
    assert spec.environments == ("dev",)
    assert spec.quotas == {"cpu": "2", "memory": "4Gi", "accelerators": 1}
    assert spec.checks == ("unit-tests",) and spec.log == ("tool-calls",)
    assert spec.egress == ("api.github.com:443", "*.pypi.org")
    assert spec.data_classes == ("public",)
    assert spec.autonomy == Autonomy(
        actions=("create", "update"),
        environments=("dev",),
        max_cost_delta_per_change=Decimal("12.50"),
        max_cost_delta_per_day=Decimal(40),
        max_accelerators=0,
        approval_ttl_seconds=3600,
    )


def _with(path: str, value: Any) -> dict[str, Any]:
    spec = full_spec()
    *parents, leaf = path.split(".")
    node = spec
    for part in parents:
        node = node[part]
    node[leaf] = value
    return spec


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("team", "", "should be non-empty"),
        ("identity.token_ttl_seconds", 100000, "maximum of 86400"),
        ("identity.token_ttl_seconds", "900", "expected integer, got string"),
        ("identity.audiences", ["plinth-admin"], "'plinth-admin' is not one of"),
        ("capability.tools", ["no-slash"], "does not match"),
        ("security.egress", ["bad host"], "does not match"),
        ("security.egress", ["example.com:70000"], "port 70000"),
        ("autonomy.actions", ["create", "destroy"], "'destroy' is not one of"),
        ("autonomy.max_cost_delta_per_change", "lots", "'lots' is not an amount"),
        ("autonomy.max_cost_delta_per_day", -1, "zero or more"),
        ("autonomy.max_cost_delta_per_day", "NaN", "finite"),
        ("autonomy.max_accelerators", -1, "minimum of 0"),
        ("autonomy.may_delete", "yes", "expected boolean"),
        ("autonomy.approval_ttl_seconds", 5, "minimum of 60"),
        ("execution.quotas", {"gpus": 1}, "unknown field 'gpus'"),
    ],
)
def test_errors_name_the_path(path: str, value: Any, message: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_agent_spec("previewer", _with(path, value))
    issues = {(i.path, i.message) for i in info.value.issues}
    wanted = "$.spec." + path
    assert any(p.startswith(wanted) and message in m for p, m in issues), issues
    assert isinstance(info.value, InvalidInput)


def test_missing_and_unknown_fields() -> None:
    with pytest.raises(SpecError) as info:
        parse_agent_spec("Bad_Name", {"purpose": "x", "wings": 2})
    paths = {i.path: i.message for i in info.value.issues}
    assert paths["$.spec.team"] == "missing required field 'team'"
    assert "unknown field 'wings'" in paths["$.spec.wings"]
    assert "is not a valid name" in paths["$.metadata.name"]


def test_documents_of_the_new_kinds_load() -> None:
    text = """
apiVersion: plinth.dev/v1
kind: Agent
metadata: {name: previewer}
spec: {team: payments, purpose: keeps previews fresh}
---
apiVersion: plinth.dev/v1
kind: McpServer
metadata: {name: time}
spec: {command: [python, -m, mcp_server_time], owner: platform, trust: trusted, version: "1"}
---
apiVersion: plinth.dev/v1
kind: McpServer
metadata: {name: remote}
spec: {url: "https://mcp.example.com/mcp", owner: platform, env: {TZ: UTC}}
---
apiVersion: plinth.dev/v1
kind: AuthorizationPolicy
metadata: {name: no-friday-deploys}
spec: {description: calm weekends, cedar: "forbid(principal, action, resource);"}
"""
    docs = load_documents(text, file="agents.yaml")
    assert [d.kind for d in docs] == ["Agent", "McpServer", "McpServer", "AuthorizationPolicy"]


@pytest.mark.parametrize(
    ("spec", "path", "message"),
    [
        ({"owner": "platform"}, "$.spec", "needs exactly one of 'url', 'command'"),
        (
            {"owner": "platform", "url": "https://a/mcp", "command": ["x"]},
            "$.spec",
            "needs exactly one of 'url', 'command'",
        ),
        ({"owner": "platform", "url": "ftp://a"}, "$.spec.url", "does not match"),
        ({"owner": "platform", "command": []}, "$.spec.command", "should be non-empty"),
        ({"owner": "platform", "url": "http://a", "trust": "high"}, "$.spec.trust", "not one of"),
        ({"url": "http://a"}, "$.spec.owner", "missing required field 'owner'"),
    ],
)
def test_mcp_server_errors(spec: dict[str, Any], path: str, message: str) -> None:
    doc = {"apiVersion": "plinth.dev/v1", "kind": "McpServer", "metadata": {"name": "s"}}
    found = kinds.schema_issues("McpServer", {**doc, "spec": spec})
    assert any(p == path and message in m for p, m in found), found


def test_authorization_policy_needs_cedar() -> None:
    doc = {"apiVersion": "plinth.dev/v1", "kind": "AuthorizationPolicy", "metadata": {"name": "p"}}
    found = kinds.schema_issues("AuthorizationPolicy", {**doc, "spec": {"description": "d"}})
    assert found == [("$.spec.cedar", "missing required field 'cedar'")]
