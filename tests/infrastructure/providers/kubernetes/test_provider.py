"""The Kubernetes provider through the official client against a fake API server on loopback."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from plinth.core.errors import PermanentError, TemporaryError
from plinth.infrastructure.providers.base import ChangeAction, Provider, ProviderContext
from plinth.infrastructure.providers.kubernetes.names import RESOURCE_LABEL, resource_label_value
from plinth.infrastructure.providers.kubernetes.provider import KubernetesProvider
from tests.fakes.kube_apiserver import FakeKubeApiServer

from .catalogue import SECURE, resource
from .conftest import kube_context

NS = "plinth-shop-dev"
WEB: dict[str, Any] = {
    "containers": {"main": {"image": "registry.example/web:1", "env": {"TOKEN": "t0p"}}},
    "ports": [{"name": "http", "port": 8080}],
    "security": SECURE,
}


def _versions(server: FakeKubeApiServer) -> dict[Any, str]:
    return {k: v["metadata"]["resourceVersion"] for k, v in server.objects.items()}


def test_the_provider_meets_the_protocol_and_declares_only_what_it_renders(
    provider: KubernetesProvider,
) -> None:
    assert isinstance(provider, Provider)
    assert KubernetesProvider.name == "kubernetes"
    assert "mlflow" not in provider.resource_types()
    assert "vm" in provider.resource_types()
    assert "runAsNonRoot" in provider.enforced_defaults("service")


def test_apply_creates_every_object_and_again_changes_nothing(
    provider: KubernetesProvider, apiserver: FakeKubeApiServer
) -> None:
    web = resource("service", WEB)
    observed = provider.apply(web, {})
    assert observed.exists and observed.phase == "pending"
    assert observed.outputs["url"] == f"http://web.{NS}.svc.cluster.local:8080"
    assert observed.state["objects"] == [
        "Deployment/web",
        "NetworkPolicy/web",
        "Secret/web-env",
        "Service/web",
    ]
    deployment = apiserver.find("apps/v1", "deployments", NS, "web")
    assert deployment is not None
    assert [e["manager"] for e in deployment["metadata"]["managedFields"]] == ["plinth"]
    assert deployment["metadata"]["managedFields"][0]["operation"] == "Apply"
    assert apiserver.find("v1", "namespaces", "", NS) is not None
    before = _versions(apiserver)
    again = provider.apply(web, {})
    assert _versions(apiserver) == before
    assert provider.plan(web, again).action is ChangeAction.NOOP


def test_observe_reflects_the_status_controllers_set(
    provider: KubernetesProvider, apiserver: FakeKubeApiServer
) -> None:
    web = resource("service", WEB)
    provider.apply(web, {})
    apiserver.set_status("apps/v1", "deployments", NS, "web", {"availableReplicas": 1})
    observed = provider.observe(web, {})
    assert (observed.phase, observed.healthy) == ("running", True)
    job = resource("job", {"containers": WEB["containers"]}, name="migrate")
    provider.apply(job, {})
    assert provider.observe(job, {}).phase == "running"
    done = {"conditions": [{"type": "Complete", "status": "True", "message": "done"}]}
    apiserver.set_status("batch/v1", "jobs", NS, "migrate", done)
    assert provider.observe(job, {}).phase == "succeeded"
    failed = {
        "conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]
    }
    apiserver.set_status("batch/v1", "jobs", NS, "migrate", failed)
    observed = provider.observe(job, {})
    assert (observed.phase, observed.healthy, observed.message) == (
        "failed",
        False,
        "BackoffLimitExceeded",
    )
    volume = resource("volume", {"size": "5Gi"}, name="data")
    assert provider.apply(volume, {}).outputs["source"] == "pvc:data"
    apiserver.set_status("v1", "persistentvolumeclaims", NS, "data", {"phase": "Bound"})
    assert provider.observe(volume, {}).phase == "bound"


def test_a_training_job_waits_for_kueue_and_is_not_reapplied(
    provider: KubernetesProvider, apiserver: FakeKubeApiServer
) -> None:
    spec = {"containers": WEB["containers"], "accelerators": {"type": "H100", "count": 1}}
    train = resource("job", spec, name="train")
    assert provider.apply(train, {}).phase == "queued"
    apiserver.update_as("kueue", "batch/v1", "jobs", NS, "train", {"spec": {"suspend": False}})
    observed = provider.apply(train, {})
    assert observed.phase == "running"
    assert observed.state["drift"] == []


def test_a_replaced_job_stays_when_another_object_of_it_is_refused(
    provider: KubernetesProvider, apiserver: FakeKubeApiServer
) -> None:
    job = resource("job", {"containers": WEB["containers"]}, name="migrate")
    provider.apply(job, {})
    before = apiserver.find("batch/v1", "jobs", NS, "migrate")
    assert before is not None
    apiserver.update_as(
        "kubectl-edit",
        "networking.k8s.io/v1",
        "networkpolicies",
        NS,
        "migrate",
        {"spec": {"policyTypes": ["Egress"]}},
    )
    changed = resource("job", {"containers": WEB["containers"], "timeout_s": 60}, name="migrate")
    assert provider.plan(changed, provider.observe(changed, {})).action is ChangeAction.REPLACE
    with pytest.raises(PermanentError, match='conflict with "kubectl-edit"'):
        provider.apply(changed, {})
    after = apiserver.find("batch/v1", "jobs", NS, "migrate")
    assert after is not None, "the old Job was deleted although its replacement was refused"
    assert after["metadata"]["uid"] == before["metadata"]["uid"]


def test_a_missing_namespace_is_a_permanent_error_saying_what_to_check(
    tmp_path: Path, apiserver: FakeKubeApiServer
) -> None:
    volume = resource("volume", {"size": "1Gi"}, name="data")
    made = KubernetesProvider(kube_context(tmp_path, apiserver, create_namespaces=False))
    try:
        with pytest.raises(PermanentError, match=r'namespaces "plinth-shop-dev" not found.*is the'):
            made.apply(volume, {})
    finally:
        made.close()
    assert apiserver.all_with_label(RESOURCE_LABEL, resource_label_value(volume.id)) == []


def test_a_secret_is_a_secret_output_and_stays_the_same(provider: KubernetesProvider) -> None:
    token = resource("secret", {"length": 40}, name="token")
    first = provider.apply(token, {})
    assert first.secret_outputs == frozenset({"value"})
    assert len(first.outputs["value"]) == 40
    assert provider.apply(token, {}).outputs["value"] == first.outputs["value"]
    assert first.outputs["value"] not in str(first.state) + first.message


def test_drift_by_another_manager_is_reported_and_a_conflict_names_it(
    provider: KubernetesProvider, apiserver: FakeKubeApiServer, tmp_path: Path
) -> None:
    web = resource("service", WEB)
    provider.apply(web, {})
    apiserver.update_as(
        "kubectl-edit", "apps/v1", "deployments", NS, "web", {"spec": {"replicas": 3}}
    )
    observed = provider.observe(web, {})
    assert observed.state["drift"] == ["Deployment/web: spec.replicas changed by 'kubectl-edit'"]
    change = provider.plan(web, observed)
    assert change.action is ChangeAction.UPDATE
    assert "kubectl-edit" in change.reasons[0]
    with pytest.raises(PermanentError, match=r'conflict with "kubectl-edit": \.spec\.replicas'):
        provider.apply(web, {})
    assert apiserver.find("apps/v1", "deployments", NS, "web")["spec"]["replicas"] == 3  # type: ignore[index]
    forcing = KubernetesProvider(kube_context(tmp_path, apiserver, force_conflicts=True))
    try:
        repaired = forcing.apply(web, {})
    finally:
        forcing.close()
    assert repaired.state["drift"] == []
    assert apiserver.find("apps/v1", "deployments", NS, "web")["spec"]["replicas"] == 1  # type: ignore[index]


def test_a_missing_object_is_drift_and_apply_recreates_it(
    provider: KubernetesProvider, apiserver: FakeKubeApiServer
) -> None:
    web = resource("service", WEB)
    provider.apply(web, {})
    del apiserver.objects[("v1", "services", NS, "web")]
    observed = provider.observe(web, {})
    assert observed.state["drift"] == ["Service/web is missing"]
    assert provider.plan(web, observed).action is ChangeAction.UPDATE
    assert provider.apply(web, {}).state["drift"] == []


def test_an_update_removes_objects_no_longer_rendered(
    provider: KubernetesProvider, apiserver: FakeKubeApiServer
) -> None:
    web = resource("service", WEB)
    provider.apply(web, {})
    quiet = resource("service", {**WEB, "ports": []})
    observed = provider.observe(quiet, {})
    assert provider.plan(quiet, observed).action is ChangeAction.UPDATE
    updated = provider.apply(quiet, {})
    assert "Service/web" not in updated.state["objects"]
    assert apiserver.find("v1", "services", NS, "web") is None


def test_destroy_leaves_nothing_with_the_resource_label(
    provider: KubernetesProvider, apiserver: FakeKubeApiServer
) -> None:
    vm_spec = {
        "image": {"kernel": "/k/vmlinuz", "initrd": "/k/initrd", "container_image": "r/k:1"},
        "disks": [{"name": "data", "size": "1Gi"}],
        "ports": {"http": 80},
        "user_data": "echo hi",
    }
    for made in (resource("service", WEB), resource("vm", vm_spec, name="legacy")):
        provider.apply(made, {})
        label = resource_label_value(made.id)
        assert apiserver.all_with_label(RESOURCE_LABEL, label)
        provider.destroy(made, {})
        assert apiserver.all_with_label(RESOURCE_LABEL, label) == []
        provider.destroy(made, {})
        assert provider.observe(made, {}).exists is False


def test_a_rejected_manifest_is_permanent_with_the_servers_message_and_nothing_applied(
    provider: KubernetesProvider, apiserver: FakeKubeApiServer
) -> None:
    backend = f"http://web.{NS}.svc.cluster.local:8080"
    bad = resource(
        "route", {"host": "Shop_Site", "path": "/", "port": 80, "backend_url": backend}, name="r"
    )
    with pytest.raises(PermanentError, match=r'spec.rules\[0\].host: Invalid value: "Shop_Site"'):
        provider.apply(bad, {})
    assert apiserver.all_with_label(RESOURCE_LABEL, resource_label_value(bad.id)) == []


def test_a_bad_token_is_a_permanent_error_naming_the_cluster(
    tmp_path: Path, apiserver: FakeKubeApiServer
) -> None:
    wrong = KubernetesProvider(kube_context(tmp_path, apiserver, token="expired"))
    try:
        with pytest.raises(PermanentError, match=rf"cluster {apiserver.url} refused .*credentials"):
            wrong.apply(resource("volume", {}), {})
    finally:
        wrong.close()


@pytest.mark.parametrize(
    ("code", "reason"),
    [(503, "ServiceUnavailable"), (429, "TooManyRequests"), (500, "InternalError")],
)
def test_server_errors_and_throttling_are_temporary(
    provider: KubernetesProvider, apiserver: FakeKubeApiServer, code: int, reason: str
) -> None:
    apiserver.fail_next(code, reason=reason)
    with pytest.raises(TemporaryError, match=str(code)):
        provider.observe(resource("volume", {}), {})


def test_an_unreachable_cluster_is_a_temporary_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with FakeKubeApiServer() as server:
        config = kube_context(tmp_path, server)
    text = Path(config.settings["kubernetes_kubeconfig"]).read_text()
    Path(config.settings["kubernetes_kubeconfig"]).write_text(
        text.replace(server.url, f"http://127.0.0.1:{port}")
    )
    gone = KubernetesProvider(config)
    try:
        with pytest.raises(TemporaryError, match="unreachable"):
            gone.observe(resource("volume", {}), {})
    finally:
        gone.close()


def test_a_missing_kubeconfig_is_a_permanent_error(tmp_path: Path) -> None:
    lost = KubernetesProvider(
        ProviderContext(tmp_path, b"k", {"kubernetes_kubeconfig": str(tmp_path / "nope.yaml")})
    )
    with pytest.raises(PermanentError, match="kubeconfig"):
        lost.observe(resource("volume", {}), {})
