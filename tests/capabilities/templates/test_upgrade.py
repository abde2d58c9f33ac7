"""Upgrading an application between template versions."""

from __future__ import annotations

from typing import Any

import pytest

from plinth.capabilities.templates import MergeConflict, TemplateVersion, UpgradeResult, upgrade
from plinth.core.errors import SpecError

_MEMORY = "containers.main.resources.limits.memory"


def _upgrade(
    old: TemplateVersion,
    new: TemplateVersion,
    overrides: list[dict[str, Any]],
    parameters: dict[str, Any] | None = None,
) -> UpgradeResult:
    return upgrade(
        old,
        new,
        app="shop",
        environment="dev",
        project="demo",
        parameters=parameters or {},
        overrides=overrides,
    )


def _template(version: str, workloads: list[dict[str, Any]]) -> TemplateVersion:
    return TemplateVersion.from_document(
        {
            "apiVersion": "plinth.dev/v1",
            "kind": "Template",
            "metadata": {"name": "t"},
            "spec": {
                "version": version,
                "workloads": workloads,
                "bounds": [{"path": "containers.main.image", "any": True}],
            },
        }
    )


def _workload(name: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "score.dev/v1b1",
        "metadata": {"name": name},
        "containers": {"main": {"image": image}},
    }


def test_upgrade_keeps_a_memory_override(
    web_100: TemplateVersion, web_110: TemplateVersion
) -> None:
    result = _upgrade(web_100, web_110, [{"path": _MEMORY, "value": "512Mi"}], {"port": 9000})
    assert (result.template, result.from_version, result.to_version) == (
        "web-service",
        "1.0.0",
        "1.1.0",
    )
    assert result.conflicts == []
    assert result.violations == []
    assert result.parameters == {"port": 9000, "log_level": "info"}
    (workload,) = result.workloads
    main = workload["containers"]["main"]
    assert main["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    }
    assert main["variables"]["LOG_LEVEL"] == "info"
    assert main["livenessProbe"] == {"httpGet": {"path": "/healthz", "port": 9000}}
    assert workload["service"]["ports"]["web"]["port"] == 9000


def test_upgrade_reports_a_conflict_and_keeps_ours(
    web_100: TemplateVersion, web_110: TemplateVersion
) -> None:
    overrides = [{"path": "containers.main.variables.LOG_LEVEL", "value": "debug"}]
    result = _upgrade(web_100, web_110, overrides)
    assert result.conflicts == [
        MergeConflict("containers.main.variables.LOG_LEVEL", None, "debug", "info", "shop")
    ]
    assert result.workloads[0]["containers"]["main"]["variables"]["LOG_LEVEL"] == "debug"
    assert result.conflicts[0].as_dict()["workload"] == "shop"


def test_violations_are_judged_by_the_new_bounds(
    web_100: TemplateVersion, web_110: TemplateVersion
) -> None:
    overrides = [
        {"path": "containers.main.resources.requests.memory", "value": "256Mi"},
        {"path": _MEMORY, "value": "2Gi"},
    ]
    old = _upgrade(web_100, web_100, overrides)
    assert [v.path for v in old.violations] == [
        "containers.main.resources.requests.memory",
        _MEMORY,
    ]
    new = _upgrade(web_100, web_110, overrides)
    assert [v.path for v in new.violations] == [_MEMORY]


def test_parameters_the_new_version_refuses(
    web_100: TemplateVersion, web_110: TemplateVersion
) -> None:
    with pytest.raises(SpecError) as caught:
        _upgrade(web_110, web_100, [], {"log_level": "debug"})
    assert caught.value.issues[0].path == "$.spec.parameters.log_level"


def test_workloads_added_and_removed_by_the_new_version() -> None:
    old = _template("1.0.0", [_workload("${app.name}", "a"), _workload("${app.name}-old", "b")])
    new = _template("2.0.0", [_workload("${app.name}", "a2"), _workload("${app.name}-new", "c")])
    clean = _upgrade(old, new, [])
    assert [w["metadata"]["name"] for w in clean.workloads] == ["shop", "shop-new"]
    assert clean.conflicts == []
    changed = _upgrade(
        old, new, [{"path": "containers.main.image", "workload": "shop-old", "value": "b2"}]
    )
    assert [c.workload for c in changed.conflicts] == ["shop-old"]
    assert changed.conflicts[0].path == ""
    assert changed.conflicts[0].theirs is None
    assert [w["metadata"]["name"] for w in changed.workloads] == ["shop", "shop-new", "shop-old"]
    assert changed.violations == []
