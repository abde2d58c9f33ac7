"""Rendering templates: parameters, placeholders, overrides and their bounds."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from plinth.capabilities.templates import (
    BoundViolation,
    Rendering,
    TemplateVersion,
    format_path,
    parse_path,
    render,
)
from plinth.core.errors import InvalidInput, SpecError


def _score() -> Draft202012Validator:
    folder = resources.files("plinth.capabilities.catalog").joinpath("schemas")
    return Draft202012Validator(json.loads(folder.joinpath("workload.schema.json").read_text()))


def _render(
    template: TemplateVersion,
    parameters: dict[str, Any] | None = None,
    overrides: list[dict[str, Any]] | None = None,
) -> Rendering:
    return render(
        template,
        app="shop",
        environment="dev",
        project="demo",
        parameters=parameters or {},
        overrides=overrides or [],
    )


def _template(workloads: list[dict[str, Any]], **spec: Any) -> TemplateVersion:
    return TemplateVersion.from_document(
        {
            "apiVersion": "plinth.dev/v1",
            "kind": "Template",
            "metadata": {"name": "t"},
            "spec": {"version": "1.0.0", "workloads": workloads, **spec},
        }
    )


def _workload(name: str, **containers: Any) -> dict[str, Any]:
    return {"apiVersion": "score.dev/v1b1", "metadata": {"name": name}, "containers": containers}


@pytest.mark.parametrize(
    "key",
    [
        ("web-service", "1.0.0"),
        ("web-service", "1.1.0"),
        ("scheduled-job", "1.0.0"),
        ("static-site", "1.0.0"),
    ],
)
def test_each_builtin_renders_valid_score_with_defaults(
    builtins: dict[tuple[str, str], TemplateVersion], key: tuple[str, str]
) -> None:
    rendering = _render(builtins[key])
    assert rendering.violations == []
    assert [w["metadata"]["name"] for w in rendering.workloads] == ["shop"]
    for workload in rendering.workloads:
        assert [e.message for e in _score().iter_errors(workload)] == []
        assert "${app." not in json.dumps(workload)
        assert "${params." not in json.dumps(workload)


def test_web_service_defaults(web_100: TemplateVersion) -> None:
    rendering = _render(web_100)
    (workload,) = rendering.workloads
    assert rendering.parameters == {"port": 8080}
    main = workload["containers"]["main"]
    assert main["image"] == "py:plinth_demo.webapp"
    assert workload["service"]["ports"]["web"] == {"port": 8080, "targetPort": 8080}
    assert main["readinessProbe"] == {"httpGet": {"path": "/healthz", "port": 8080}}
    assert main["resources"]["limits"] == {"cpu": "500m", "memory": "256Mi"}
    assert workload["resources"]["db"] == {"type": "postgres"}
    assert workload["resources"]["route"]["params"] == {
        "host": "shop.localhost",
        "path": "/",
        "port": 8080,
    }


def test_scheduled_job_and_static_site(builtins: dict[tuple[str, str], TemplateVersion]) -> None:
    (job,) = _render(builtins[("scheduled-job", "1.0.0")], {"schedule": "0 * * * *"}).workloads
    assert job["metadata"]["annotations"]["plinth.dev/type"] == "job"
    assert job["metadata"]["annotations"]["plinth.dev/schedule"] == "0 * * * *"
    (site,) = _render(builtins[("static-site", "1.0.0")]).workloads
    assert site["containers"]["main"]["volumes"] == {
        "/site": {"source": "${resources.content}", "readOnly": True}
    }
    assert site["resources"]["content"] == {"type": "volume"}


def test_substitution_keeps_types_and_interpolates() -> None:
    template = _template(
        [
            _workload(
                "${app.name}-${app.environment}",
                main={
                    "image": "img",
                    "args": ["${params.port}", "--on=${params.port}", "${params.flags}"],
                    "variables": {
                        "PROJECT": "${app.project}",
                        "NESTED": "${params.db.host}:${params.db.port}",
                    },
                },
            )
        ],
        parameters={
            "type": "object",
            "properties": {
                "port": {"type": "integer", "default": 8080},
                "flags": {"type": "array", "default": ["-v"]},
                "db": {
                    "type": "object",
                    "default": {"host": "h"},
                    "properties": {"port": {"type": "integer", "default": 5432}},
                },
            },
        },
    )
    (workload,) = _render(template).workloads
    assert workload["metadata"]["name"] == "shop-dev"
    main = workload["containers"]["main"]
    assert main["args"] == [8080, "--on=8080", ["-v"]]
    assert main["variables"] == {"PROJECT": "demo", "NESTED": "h:5432"}


def test_score_placeholders_and_escapes_are_left_as_written() -> None:
    text = "${resources.db.host}:${metadata.name} $${params.port} ${ params.port } ${}"
    template = _template(
        [_workload("web", main={"image": "img", "variables": {"A": text, "B": "${resources.db}"}})],
        parameters={"type": "object", "properties": {"port": {"type": "integer", "default": 1}}},
    )
    (workload,) = _render(template).workloads
    assert workload["containers"]["main"]["variables"] == {"A": text, "B": "${resources.db}"}


def test_bad_parameters_name_their_path(web_110: TemplateVersion) -> None:
    with pytest.raises(SpecError) as caught:
        _render(web_110, {"port": "eighty", "log_level": "loud", "colour": "red"})
    issues = {issue.path: issue.message for issue in caught.value.issues}
    assert set(issues) == {
        "$.spec.parameters.port",
        "$.spec.parameters.log_level",
        "$.spec.parameters.colour",
    }
    assert "'eighty' is not of type 'integer'" in issues["$.spec.parameters.port"]


def test_undeclared_parameters_are_refused_unless_the_schema_is_open() -> None:
    closed = _template(
        [_workload("web", main={"image": "img"})],
        parameters={"type": "object", "properties": {"a": {"type": "string"}}},
    )
    with pytest.raises(SpecError, match="unknown parameter 'b'"):
        _render(closed, {"b": "x"})
    opened = _template(
        [_workload("web", main={"image": "img"})],
        parameters={
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "additionalProperties": True,
        },
    )
    assert _render(opened, {"b": "x"}).parameters == {"b": "x"}


def test_a_placeholder_without_a_value_is_an_error() -> None:
    template = _template(
        [_workload("web", main={"image": "${params.image}"})],
        parameters={"type": "object", "properties": {"image": {"type": "string"}}},
    )
    with pytest.raises(SpecError) as caught:
        _render(template)
    assert caught.value.issues[0].path == "$.spec.workloads[0].containers.main.image"


def test_override_inside_bounds_is_applied_without_violation(web_100: TemplateVersion) -> None:
    rendering = _render(
        web_100,
        overrides=[
            {"path": "containers.main.resources.limits.memory", "value": "512Mi"},
            {"path": "containers.main.resources.limits.cpu", "workload": "shop", "value": "1.5"},
            {"path": "containers.main.variables.FEATURE_X", "value": "on"},
            {"path": "containers.main.image", "value": "py:plinth_demo.webapp"},
        ],
    )
    assert rendering.violations == []
    main = rendering.workloads[0]["containers"]["main"]
    assert main["resources"]["limits"] == {"cpu": "1.5", "memory": "512Mi"}
    assert main["variables"]["FEATURE_X"] == "on"


@pytest.mark.parametrize(
    ("override", "bound", "message"),
    [
        (
            {"path": "containers.main.resources.limits.memory", "value": "4Gi"},
            "min 64Mi, max 1Gi",
            "containers.main.resources.limits.memory=4Gi exceeds max 1Gi",
        ),
        (
            {"path": "containers.main.resources.limits.memory", "value": "16Mi"},
            "min 64Mi, max 1Gi",
            "containers.main.resources.limits.memory=16Mi is below min 64Mi",
        ),
        (
            {"path": "containers.main.resources.limits.cpu", "value": "lots"},
            "min 100m, max 2",
            "containers.main.resources.limits.cpu=lots is not a number or quantity",
        ),
        (
            {"path": "containers.main.image", "value": "nginx:latest"},
            "one of py:plinth_demo.webapp",
            "containers.main.image=nginx:latest is not one of py:plinth_demo.webapp",
        ),
        (
            {"path": "service.ports.web.port", "value": 80},
            None,
            "service.ports.web.port is not declared overridable by template web-service 1.0.0",
        ),
    ],
)
def test_override_outside_bounds_is_applied_and_reported(
    web_100: TemplateVersion, override: dict[str, Any], bound: str | None, message: str
) -> None:
    rendering = _render(web_100, overrides=[override])
    (violation,) = rendering.violations
    assert isinstance(violation, BoundViolation)
    assert (violation.workload, violation.path) == ("shop", override["path"])
    assert violation.value == override["value"]
    assert violation.bound == bound
    assert violation.message.startswith(message)
    assert violation.as_dict()["message"] == violation.message
    node: Any = rendering.workloads[0]
    for segment in parse_path(override["path"]):
        node = node[segment]
    assert node == override["value"]


def test_overrides_create_maps_and_quoted_paths(
    builtins: dict[tuple[str, str], TemplateVersion],
) -> None:
    job = builtins[("scheduled-job", "1.0.0")]
    rendering = _render(
        job,
        overrides=[
            {"path": 'metadata.annotations["plinth.dev/schedule"]', "value": "0 3 * * *"},
            {"path": "containers.main.resources.requests.memory", "value": "64Mi"},
        ],
    )
    (workload,) = rendering.workloads
    assert workload["metadata"]["annotations"]["plinth.dev/schedule"] == "0 3 * * *"
    assert workload["containers"]["main"]["resources"]["requests"] == {"memory": "64Mi"}
    assert [v.path for v in rendering.violations] == ["containers.main.resources.requests.memory"]


def test_most_specific_bound_decides() -> None:
    template = _template(
        [_workload("web", main={"image": "img"})],
        bounds=[
            {"path": "containers.*.variables.*", "any": True},
            {"path": "containers.main.variables.LOG_LEVEL", "enum": ["info", "debug"]},
        ],
    )
    ok = _render(template, overrides=[{"path": "containers.main.variables.X", "value": "1"}])
    assert ok.violations == []
    bad = _render(
        template, overrides=[{"path": "containers.main.variables.LOG_LEVEL", "value": "loud"}]
    )
    assert [v.bound for v in bad.violations] == ["one of info, debug"]


def test_override_targets_among_several_workloads() -> None:
    template = _template(
        [
            _workload("${app.name}-api", main={"image": "a"}),
            _workload("${app.name}-worker", main={"image": "b"}),
        ],
        bounds=[{"path": "containers.main.image", "workload": "${app.name}-api", "any": True}],
    )
    rendering = _render(
        template,
        overrides=[
            {"path": "containers.main.image", "workload": "shop-api", "value": "a2"},
            {"path": "containers.main.image", "workload": "shop-worker", "value": "b2"},
        ],
    )
    assert [w["containers"]["main"]["image"] for w in rendering.workloads] == ["a2", "b2"]
    assert [(v.workload, v.bound) for v in rendering.violations] == [("shop-worker", None)]
    with pytest.raises(SpecError, match="name the workload") as ambiguous:
        _render(template, overrides=[{"path": "containers.main.image", "value": "x"}])
    assert ambiguous.value.issues[0].path == "$.spec.overrides[0].workload"
    with pytest.raises(SpecError, match="renders no workload 'nope'"):
        _render(
            template,
            overrides=[{"path": "containers.main.image", "workload": "nope", "value": "x"}],
        )


@pytest.mark.parametrize(
    ("override", "path", "message"),
    [
        ({"path": "containers.main.image"}, "$.spec.overrides[0]", "needs a path and a value"),
        ({"path": "containers.*.image", "value": 1}, "$.spec.overrides[0].path", "only in bounds"),
        (
            {"path": "containers.main.image.tag", "value": 1},
            "$.spec.overrides[0].path",
            "containers.main.image holds a str",
        ),
    ],
)
def test_malformed_overrides_are_spec_errors(
    web_100: TemplateVersion, override: dict[str, Any], path: str, message: str
) -> None:
    with pytest.raises(SpecError, match=message) as caught:
        _render(web_100, overrides=[override])
    assert caught.value.issues[0].path == path


def test_paths_round_trip() -> None:
    for text in ["a.b.c", 'metadata.annotations["plinth.dev/x"]', 'a["b.c"]["d\\"e"].f', "a.*.c"]:
        assert format_path(parse_path(text, wildcards=True)) == text
    assert parse_path('a["x.y"].b') == ("a", "x.y", "b")
    for bad in ["", "a.", ".a", "a..b", "a[b]", 'a[""]', "a]"]:
        with pytest.raises(InvalidInput):
            parse_path(bad)
