"""The fake API server speaks the protocol the official client's typed APIs expect."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.fakes.kube_apiserver import FakeKubeApiServer

NS = "team-a"


@pytest.fixture
def server() -> Iterator[FakeKubeApiServer]:
    """A fake API server for one test."""
    with FakeKubeApiServer() as fake:
        yield fake


def _client(server: FakeKubeApiServer, tmp_path: Path, token: str | None = None) -> Any:
    path = tmp_path / "kubeconfig"
    path.write_text(server.kubeconfig(token=token))
    return config.new_client_from_config(config_file=str(path), persist_config=False)  # type: ignore[no-untyped-call]


def _apply(api: Any, body: dict[str, Any], manager: str, *, force: bool = False) -> Any:
    kind = body["kind"].lower() + "s"
    root = "/api/v1" if body["apiVersion"] == "v1" else f"/apis/{body['apiVersion']}"
    scope = f"/namespaces/{NS}" if kind != "namespaces" else ""
    path = f"{root}{scope}/{kind}/{body['metadata']['name']}"
    query = [("fieldManager", manager)] + ([("force", "true")] if force else [])
    request = api.param_serialize(
        "PATCH",
        path,
        query_params=query,
        header_params={"Content-Type": "application/apply-patch+yaml"},
        body=body,
        auth_settings=["BearerToken"],
    )
    response = api.call_api(*request)
    response.read()
    return api.response_deserialize(response, {"2XX": "object"})


CONFIG: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "x"},
}
SECRET: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "db", "namespace": NS, "labels": {"app": "shop"}},
    "data": {"password": "c2VjcmV0"},
}


def test_typed_reads_lists_and_deletes_work_with_the_official_client(
    server: FakeKubeApiServer, tmp_path: Path
) -> None:
    api = _client(server, tmp_path)
    _apply(api, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}, "me")
    created = _apply(api, SECRET, "me")
    assert created.status_code == 201
    core = client.CoreV1Api(api)
    read = core.read_namespaced_secret("db", NS)
    assert read.data == {"password": "c2VjcmV0"}
    assert read.metadata is not None and read.metadata.managed_fields is not None
    assert read.metadata.managed_fields[0].manager == "me"
    listed = core.list_namespaced_secret(NS, label_selector="app=shop").items
    assert [s.metadata.name for s in listed if s.metadata is not None] == ["db"]
    assert core.list_namespaced_secret(NS, label_selector="app!=shop").items == []
    core.delete_namespaced_secret("db", NS, propagation_policy="Foreground")
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_secret("db", NS)
    status = json.loads(missing.value.body or "{}")
    assert (missing.value.status, status["kind"], status["reason"]) == (404, "Status", "NotFound")
    assert status["message"] == 'secrets "db" not found'
    api.close()


def test_apply_shares_equal_fields_and_conflicts_on_different_ones(
    server: FakeKubeApiServer, tmp_path: Path
) -> None:
    api = _client(server, tmp_path)
    _apply(api, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}, "me")
    first = _apply(api, SECRET, "me").data
    again = _apply(api, SECRET, "me").data
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    shared = _apply(api, SECRET, "other")
    assert [e["manager"] for e in shared.data["metadata"]["managedFields"]] == ["me", "other"]
    changed = {**SECRET, "data": {"password": "b3RoZXI="}}
    with pytest.raises(ApiException) as conflict:
        _apply(api, changed, "other")
    status = json.loads(conflict.value.body or "{}")
    assert (conflict.value.status, status["reason"]) == (409, "Conflict")
    assert status["details"]["causes"][0]["field"] == ".data.password"
    taken = _apply(api, changed, "other", force=True).data
    assert [e["manager"] for e in taken["metadata"]["managedFields"]] == ["me", "other"]
    assert "f:data" not in taken["metadata"]["managedFields"][0]["fieldsV1"]
    api.close()


def test_a_wrong_token_and_an_unknown_kind_are_refused(
    server: FakeKubeApiServer, tmp_path: Path
) -> None:
    wrong = client.CoreV1Api(_client(server, tmp_path, token="nope"))
    with pytest.raises(ApiException) as refused:
        wrong.list_namespace()
    assert refused.value.status == 401
    assert json.loads(refused.value.body or "{}")["reason"] == "Unauthorized"
    api = _client(server, tmp_path)
    with pytest.raises(ApiException) as unknown:
        _apply(api, CONFIG, "me")
    assert unknown.value.status == 404
    api.close()
    wrong.api_client.close()
