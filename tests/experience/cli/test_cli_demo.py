"""``plinth demo --no-serve`` in a temporary data dir, then its data read through the API.

The server side is read in process (no reconciler running), so the test starts no
workload; ``plinth dora`` runs against the same app through the CLI's transport hook.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from plinth.core.config import Settings
from plinth.experience.api.app import create_app
from plinth.experience.cli.client import write_cli_config
from plinth.experience.cli.context import CliState
from plinth.experience.cli.main import app
from plinth.orchestration.platform import Platform


def plinth(*args: str) -> Result:
    """Run the real CLI in process (its imports are loaded once for the module)."""
    return CliRunner(env={"COLUMNS": "120"}).invoke(app, list(args))


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir seeded by ``plinth demo --days 3 --no-serve``."""
    where = tmp_path_factory.mktemp("demo") / "data"
    done = plinth("demo", "--data-dir", str(where), "--days", "3", "--no-serve")
    assert done.exit_code == 0, done.output
    assert "/portal" in done.output and "deploy-bot (agent)" in done.output
    assert "through the AI gateway" in done.output
    return where


@pytest.fixture(scope="module")
def api(demo_dir: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The API over the demo's store, in process, with the demo users' tokens."""
    platform = Platform(Settings(data_dir=demo_dir))
    tokens: dict[str, str] = json.loads((demo_dir / "tokens.json").read_text())
    try:
        with TestClient(create_app(platform)) as client:
            yield client, tokens
    finally:
        platform.stop()


def get(api: tuple[TestClient, dict[str, str]], path: str, user: str, **params: Any) -> Any:
    """GET an API path as a demo user; return the JSON body."""
    client, tokens = api
    answer = client.get(path, params=params, headers={"Authorization": f"Bearer {tokens[user]}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_demo_seeds_dora_cost_and_approvals(api: tuple[TestClient, dict[str, str]]) -> None:
    dora = get(api, "/api/v1/dora", "lee", team="payments", window_days=30)
    assert dora["deployment_frequency"]["deployments"] >= 3
    assert dora["lead_time"]["count"] >= 2
    assert dora["deployment_frequency"]["band"] is not None
    series = get(api, "/api/v1/dora/series", "lee", team="payments", weeks=4)["items"]
    assert sum(p["deployments"] for p in series) >= 3
    cost = get(api, "/api/v1/cost", "lee", by="team", window="30d")
    teams = {item["team"] for item in cost["items"]}
    assert {"payments", "ml-research", "platform"} <= teams
    approved = get(api, "/api/v1/approvals", "pat", status="applied")["items"]
    assert any(a.get("requested_by") == "deploy-bot" for a in approved)
    assert get(api, "/api/v1/audit/verify", "sam")["ok"] is True


def test_demo_leaves_findings_an_exception_and_screened_inferences(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    findings = get(api, "/api/v1/compliance/findings", "sam")["items"]
    states = {f["state"] for f in findings if f["rule"] == "replicas"}
    assert {"open", "excepted"} <= states
    exceptions = get(api, "/api/v1/policy/exceptions", "sam")["items"]
    assert any(e["rule"] == "reliability/replicas" and e["owner"] == "sam" for e in exceptions)
    stats = get(api, "/api/v1/llm/stats", "sam")
    assert stats["blocked"] >= 1 and stats["refused"] >= 1 and stats["redactions"] >= 1


def through(client: TestClient) -> httpx.MockTransport:
    """An httpx transport that hands each CLI request to the in-process app."""

    def handle(request: httpx.Request) -> httpx.Response:
        answer = client.request(
            request.method, str(request.url), content=request.content, headers=request.headers
        )
        headers = {k: v for k, v in answer.headers.items() if k.lower() == "content-type"}
        return httpx.Response(answer.status_code, headers=headers, content=answer.content)

    return httpx.MockTransport(handle)


def test_plinth_dora_prints_the_keys_and_the_trend(
    api: tuple[TestClient, dict[str, str]], tmp_path: Path
) -> None:
    client, tokens = api
    config = tmp_path / "cli.yaml"
    write_cli_config(config, url="http://testserver", users=tokens, current_user="lee")
    state = CliState(transport=through(client))
    result = CliRunner(env={"PLINTH_CLI_CONFIG": str(config), "COLUMNS": "160"}).invoke(
        app, ["dora", "--team", "payments"], obj=state
    )
    assert result.exit_code == 0, result.output
    assert "deployment frequency" in result.output and "Week by week" in result.output
    raw = CliRunner(env={"PLINTH_CLI_CONFIG": str(config)}).invoke(
        app, ["dora", "--team", "payments", "-o", "json"], obj=CliState(transport=through(client))
    )
    assert raw.exit_code == 0, raw.output
    assert json.loads(raw.output)["metrics"]["team"] == "payments"


def test_demo_reuses_its_own_data_dir_and_refuses_others(demo_dir: Path, tmp_path: Path) -> None:
    again = plinth("demo", "--data-dir", str(demo_dir), "--no-serve")
    assert again.exit_code == 0, again.output
    assert "Reusing the demo data" in again.output and "/portal" in again.output
    other = tmp_path / "other"
    other.mkdir()
    (other / "plinth.db").write_text("not a demo")
    refused = plinth("demo", "--data-dir", str(other), "--no-serve")
    assert refused.exit_code == 1
    assert "did not seed" in refused.output
