"""The local provider's ``mlflow`` resource: a real MLflow tracking server on loopback."""

from __future__ import annotations

import importlib.util
import json
import urllib.request
from pathlib import Path

import pytest

from plinth.core.errors import PermanentError
from plinth.infrastructure.providers.local import processes
from plinth.infrastructure.providers.local.provider import LocalProvider

from .local_provider_helpers import make_resource

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
HAS_MLFLOW = importlib.util.find_spec("mlflow") is not None


@pytest.mark.skipif(not HAS_MLFLOW, reason="needs the optional extra plinth[mlflow]")
def test_mlflow_tracking_server(provider: LocalProvider, data_dir: Path) -> None:
    res = make_resource("ml_track", "mlflow", {})
    try:
        obs = provider.apply(res, {})
        assert obs.exists and obs.healthy
        url = obs.outputs["url"]
        body = json.dumps({"name": "churn"}).encode()
        request = urllib.request.Request(
            f"{url}/api/2.0/mlflow/experiments/create",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with OPENER.open(request, timeout=30) as response:
            assert json.loads(response.read())["experiment_id"]
        assert provider.apply(res, obs.state).state["processes"] == obs.state["processes"]
        assert (data_dir / "mlflow" / "ml_track" / "mlflow.db").is_file()
    finally:
        provider.destroy(res, {})
    assert processes.scan(str(data_dir.resolve()), "ml_track") == []
    assert not (data_dir / "mlflow" / "ml_track").exists()


@pytest.mark.skipif(HAS_MLFLOW, reason="the mlflow extra is installed")
def test_mlflow_without_the_extra_is_refused(provider: LocalProvider) -> None:
    with pytest.raises(PermanentError, match=r"plinth\[mlflow\]"):
        provider.apply(make_resource("ml_none", "mlflow", {}), {})
