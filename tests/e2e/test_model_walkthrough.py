"""docs/models.md as a test: train, sign, register, deploy, call; a tampered model is stopped.

A real control plane process (SQLite, the local provider), the real CLI, a real
scikit-learn model signed offline with an EC key (OpenSSF model signing).
"""

from __future__ import annotations

import json
import os
import pickle
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.e2e.helpers import workload_ready
from tests.support import REPO, start_server, wait_until

sklearn = pytest.importorskip("sklearn.linear_model", reason="the serving extra is not installed")

PLINTH = str(Path(sys.executable).parent / "plinth")
SERVE = """\
apiVersion: score.dev/v1b1
metadata: {name: iris-api}
containers:
  main:
    image: python:3.11-slim
    command: ["sleep", "3600"]
    variables: {MODEL_URL: "${resources.model.url}"}
resources:
  model:
    type: model-deployment
    params: {model: "iris@1.0.0", replicas: 1}
"""


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real CLI."""
    return subprocess.run(
        [PLINTH, *args], env=env, capture_output=True, text=True, timeout=300, cwd=REPO
    )


def train(path: Path) -> None:
    """A tiny two-class model: the class is whether the first feature is above 5."""
    features = [[float(x), float(x * 7 % 10)] for x in range(10)]
    labels = [int(row[0] > 5) for row in features]
    model = sklearn.LogisticRegression().fit(features, labels)
    path.write_bytes(pickle.dumps(model))


def keys(where: Path) -> tuple[Path, Path]:
    """An EC P-256 key pair as PEM files."""
    private = ec.generate_private_key(ec.SECP256R1())
    key, public = where / "key.pem", where / "pub.pem"
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key, public


def test_model_walkthrough(tmp_path: Path) -> None:
    model_file = tmp_path / "iris.pkl"
    train(model_file)
    key, public = keys(tmp_path)
    serve = tmp_path / "serve.yaml"
    serve.write_text(SERVE)
    with start_server(tmp_path / "data") as server:
        pat, dana = server.cli_env("pat"), server.cli_env("dana")
        trusted = cli(pat, "models", "trust", "add", "ml-research-key", str(public))
        assert trusted.returncode == 0, trusted.stdout + trusted.stderr
        registered = cli(
            dana, "models", "register", "iris", "1.0.0", "--artifact", str(model_file),
            "--sign-key", str(key), "--team", "ml-research",
            "--lineage-training-job", "train-iris", "--lineage-param", "C=1.0",
        )  # fmt: skip
        assert registered.returncode == 0, registered.stdout + registered.stderr
        assert cli(dana, "models", "verify", "iris", "1.0.0").returncode == 0

        applied = cli(
            dana, "apply", "-f", str(serve), "--env", "dev", "--project", "recommender", "--yes"
        )
        assert applied.returncode == 0, applied.stdout + applied.stderr
        with server.client("dana") as api:
            ready = wait_until(
                lambda: workload_ready(api, "iris-api"), timeout=180, what="model deployed"
            )
        deployment = next(r for r in ready["resources"] if r["type"] == "model-deployment")
        url = deployment["outputs"]["url"]
        answer = httpx.post(
            f"{url}/v1/predict", json={"instances": [[9.0, 1.0], [1.0, 9.0]]}, timeout=30
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == [1, 0]

        shown: dict[str, Any] = json.loads(
            cli(dana, "models", "show", "iris", "1.0.0", "-o", "json").stdout
        )
        stored = Path(shown["artifact_uri"])
        stored.chmod(stored.stat().st_mode | stat.S_IWUSR)
        with stored.open("ab") as fh:
            fh.write(b"tampered")
        os.sync()
        assert cli(dana, "models", "verify", "iris", "1.0.0").returncode == 1
        again = cli(dana, "plan", "-f", str(serve), "--env", "staging", "--project", "recommender")
        assert again.returncode == 3, again.stdout + again.stderr
        assert "default/signed_models" in again.stdout
