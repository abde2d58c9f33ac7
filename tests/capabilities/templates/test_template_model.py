"""Parsing Template and Application documents; the JSON Schemas; the built-ins."""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any

import pytest
from jsonschema import Draft202012Validator

import plinth.capabilities.templates as templates
from plinth.capabilities.templates import (
    Application,
    TemplateVersion,
    builtin_templates,
    latest,
    parse_version,
)
from plinth.core.errors import InvalidInput, NotFound, SpecError


def _schema(kind: str) -> Draft202012Validator:
    folder = resources.files("plinth.capabilities.catalog").joinpath("schemas")
    schema = json.loads(folder.joinpath(f"{kind}.schema.json").read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _minimal(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "version": "1.0.0",
        "parameters": {"type": "object", "properties": {"port": {"type": "integer"}}},
        "workloads": [
            {
                "apiVersion": "score.dev/v1b1",
                "metadata": {"name": "${app.name}"},
                "containers": {"main": {"image": "busybox"}},
            }
        ],
    }
    body.update(spec)
    return {
        "apiVersion": "plinth.dev/v1",
        "kind": "Template",
        "metadata": {"name": "tiny"},
        "spec": body,
    }


def _issues(raw: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(SpecError) as caught:
        TemplateVersion.from_document(raw)
    return {issue.path: issue.message for issue in caught.value.issues}


def test_public_surface_is_pinned() -> None:
    assert sorted(templates.__all__) == [
        "Application",
        "Bound",
        "BoundViolation",
        "MergeConflict",
        "MergeResult",
        "Rendering",
        "TemplateVersion",
        "UpgradeResult",
        "builtin_templates",
        "format_path",
        "latest",
        "parse_path",
        "parse_version",
        "render",
        "resolve_parameters",
        "three_way_merge",
        "upgrade",
    ]


def test_builtins_are_the_expected_versions(
    builtins: dict[tuple[str, str], TemplateVersion],
) -> None:
    assert sorted(builtins) == [
        ("scheduled-job", "1.0.0"),
        ("static-site", "1.0.0"),
        ("web-service", "1.0.0"),
        ("web-service", "1.1.0"),
    ]


@pytest.mark.parametrize("document", builtin_templates(), ids=lambda d: d["spec"]["version"])
def test_builtins_validate_against_the_template_schema(document: dict[str, Any]) -> None:
    assert [e.message for e in _schema("template").iter_errors(document)] == []


def test_template_schema_rejects_what_it_should() -> None:
    validator = _schema("template")
    bad = _minimal(version="1.0", bounds=[{"path": "a.b"}])
    bad["spec"]["extra"] = True
    paths = {"/".join(map(str, e.absolute_path)) for e in validator.iter_errors(bad)}
    assert {"spec", "spec/version", "spec/bounds/0"} <= paths


def test_application_schema() -> None:
    validator = _schema("application")
    good: dict[str, Any] = {
        "apiVersion": "plinth.dev/v1",
        "kind": "Application",
        "metadata": {"name": "shop"},
        "spec": {
            "template": "web-service",
            "version": "1.0.0",
            "parameters": {"port": 8081},
            "overrides": [
                {
                    "path": "containers.main.resources.limits.memory",
                    "workload": "shop",
                    "value": "512Mi",
                    "reason": "bigger catalogue",
                },
            ],
        },
    }
    assert list(validator.iter_errors(good)) == []
    bad = copy.deepcopy(good)
    bad["spec"]["overrides"][0].pop("value")
    bad["spec"]["version"] = "latest"
    assert len(list(validator.iter_errors(bad))) == 2
    parsed = Application.from_document(good)
    assert (parsed.name, parsed.template, parsed.version) == ("shop", "web-service", "1.0.0")
    assert parsed.overrides[0]["value"] == "512Mi"


def test_application_semantic_errors() -> None:
    with pytest.raises(SpecError) as caught:
        Application.from_document({"metadata": {}, "spec": {"version": "v2", "overrides": {}}})
    paths = {issue.path for issue in caught.value.issues}
    assert paths == {"$.metadata.name", "$.spec.template", "$.spec.version", "$.spec.overrides"}


def test_parses_a_template_version(web_100: TemplateVersion) -> None:
    assert web_100.name == "web-service"
    assert web_100.version_key == (1, 0, 0)
    assert web_100.parameters_schema["properties"]["port"]["default"] == 8080
    assert web_100.workloads[0]["metadata"]["name"] == "${app.name}"
    memory = web_100.bounds[0]
    assert memory.segments == ("containers", "main", "resources", "limits", "memory")
    assert memory.describe() == "min 64Mi, max 1Gi"


def test_parse_version_and_latest(builtins: dict[tuple[str, str], TemplateVersion]) -> None:
    assert parse_version("1.10.0") == (1, 10, 0)
    for bad in ("1.0", "01.0.0", "1.0.0-rc1", "v1.0.0", ""):
        with pytest.raises(InvalidInput, match=r"MAJOR\.MINOR\.PATCH"):
            parse_version(bad)
    web = [t for (name, _), t in builtins.items() if name == "web-service"]
    assert latest(web).version == "1.1.0"
    tens = TemplateVersion.from_document(_minimal(version="1.10.0"))
    nines = TemplateVersion.from_document(_minimal(version="1.9.0"))
    assert latest([tens, nines]) is tens
    with pytest.raises(NotFound):
        latest([])


def test_semantic_errors_carry_json_paths() -> None:
    raw = _minimal(
        version="1.0",
        parameters={"type": "object", "properties": {"port": {"type": "integr"}}},
        bounds=[
            {"path": "containers.main..image", "any": True},
            {"path": "containers.main.resources.limits.memory", "min": "1Gi", "max": "64Mi"},
            {"path": "containers.main.resources.limits.cpu", "max": "lots"},
            {"path": "containers.main.image"},
            {"path": "containers.*.image", "any": True, "enum": ["x"]},
            {"path": "containers.ma*n.image", "any": True},
        ],
    )
    issues = _issues(raw)
    assert set(issues) == {
        "$.spec.version",
        "$.spec.parameters.properties.port.type",
        "$.spec.bounds[0].path",
        "$.spec.bounds[1]",
        "$.spec.bounds[2].max",
        "$.spec.bounds[3]",
        "$.spec.bounds[4]",
        "$.spec.bounds[5].path",
    }
    assert "MAJOR.MINOR.PATCH" in issues["$.spec.version"]
    assert "min 1Gi is above max 64Mi" in issues["$.spec.bounds[1]"]
    assert "not a quantity" in issues["$.spec.bounds[2].max"]


def test_placeholders_must_name_known_things() -> None:
    workload = {
        "apiVersion": "score.dev/v1b1",
        "metadata": {"name": "${app.nmae}"},
        "containers": {"main": {"image": "${params.imgae}", "args": ["${params.}"]}},
    }
    raw = _minimal(
        parameters={
            "type": "object",
            "additionalProperties": False,
            "properties": {"image": {"type": "string"}},
        },
        workloads=[workload],
    )
    issues = _issues(raw)
    assert set(issues) == {
        "$.spec.workloads[0].metadata.name",
        "$.spec.workloads[0].containers.main.image",
        "$.spec.workloads[0].containers.main.args[0]",
    }
    assert "app.name" in issues["$.spec.workloads[0].metadata.name"]


def test_parameters_must_be_an_object_schema() -> None:
    issues = _issues(_minimal(parameters={"type": "string"}))
    assert set(issues) == {"$.spec.parameters.type"}


def test_a_template_needs_workloads_and_a_name() -> None:
    raw = _minimal(workloads=[])
    raw["metadata"] = {}
    assert set(_issues(raw)) == {"$.metadata.name", "$.spec.workloads"}
