"""The manifests that run Plinth itself on Kubernetes: valid, secure and consistent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from plinth.core.config import _ENV_FIELDS, load_settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
VERSIONS = ["1.36", "1.37"]
MANIFESTS = sorted(p for p in DEPLOY.glob("*.yaml") if p.name != "kustomization.yaml")


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _kind(kind: str) -> dict[str, Any]:
    found = [d for p in MANIFESTS for d in _docs(p) if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def test_the_expected_objects_are_there() -> None:
    kinds = sorted(d["kind"] for p in MANIFESTS for d in _docs(p))
    assert kinds == sorted(
        [
            "ConfigMap",
            "Deployment",
            "Namespace",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "Secret",
            "Service",
            "ServiceAccount",
        ]
    )


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_every_manifest_passes_strict_schema_validation(path: Path, version: str) -> None:
    for doc in _docs(path):
        assert kubernetes_validate.validate(doc, version, strict=True) == version


def test_kustomization_lists_every_manifest_but_the_secret_reference() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in MANIFESTS} - {"secret.yaml"}
    assert kustomization["namespace"] == "plinth"


def test_the_secret_reference_holds_no_values() -> None:
    secret = _kind("Secret")
    assert "data" not in secret
    assert set(secret["stringData"]) == {"database-url", "secret.key"}
    assert all(value == "" for value in secret["stringData"].values())


def test_deployment_runs_two_hardened_replicas_with_health_probes() -> None:
    deployment = _kind("Deployment")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/healthz"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    selector = deployment["spec"]["selector"]["matchLabels"]
    for kind in ("PodDisruptionBudget", "NetworkPolicy"):
        obj = _kind(kind)
        labels = obj["spec"].get("selector", obj["spec"].get("podSelector"))["matchLabels"]
        assert labels == selector
    assert _kind("Service")["spec"]["selector"] == selector


def test_the_configmap_holds_settings_plinth_reads() -> None:
    data = _kind("ConfigMap")["data"]
    assert set(data) <= set(_ENV_FIELDS)
    settings = load_settings(environ=data)
    assert settings.host == "0.0.0.0"
    assert settings.port == 8080
    assert str(settings.data_dir) == "/var/lib/plinth"
