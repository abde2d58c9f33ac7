"""The AI gateway's administration API and CLI on a real server, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import openai
import pytest
from tests.support import REPO, PlinthServer, start_server, temporary_pg_database
from tests.support_llm import start_llm_upstream


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PlinthServer]:
    """A control plane in front of a local OpenAI-compatible upstream."""
    data_dir = tmp_path_factory.mktemp(f"llm-{request.param}") / "data"
    with start_llm_upstream() as upstream:
        env = {"PLINTH_LLM_UPSTREAM_URL": upstream.url}
        if request.param == "sqlite":
            with start_server(data_dir, extra_env=env) as running:
                yield running
            return
        admin_url = os.environ.get("PLINTH_TEST_PG_URL")
        if not admin_url:
            pytest.skip("PLINTH_TEST_PG_URL is not set (.ci/run starts PostgreSQL and sets it)")
        with (
            temporary_pg_database(admin_url) as url,
            start_server(data_dir, extra_env={**env, "PLINTH_DATABASE_URL": url}) as running,
        ):
            yield running


def cli(server: PlinthServer, user: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``plinth`` as ``user`` against the server."""
    return subprocess.run(
        [sys.executable, "-m", "plinth", *args],
        env=server.cli_env(user),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_keys_need_a_member_of_the_team(server: PlinthServer) -> None:
    with server.client("dana") as api:
        refused = api.post("/api/v1/llm/keys", json={"name": "x", "team": "payments"})
        assert refused.status_code == 403
        bad = api.post("/api/v1/llm/keys", json={"name": "x", "team": "ml-research", "oops": 1})
        assert bad.status_code in (400, 422)
    with server.client("pat") as api:
        made = api.post("/api/v1/llm/keys", json={"name": "research", "team": "ml-research"})
        assert made.status_code == 201
        assert made.json()["key"].startswith("plk-")
        assert "key" not in api.get("/api/v1/llm/keys").json()["items"][0]
    with server.client("ada") as api:
        teams = {k["team"] for k in api.get("/api/v1/llm/keys").json()["items"]}
        assert "ml-research" not in teams


def test_cli_keys_models_and_usage(server: PlinthServer) -> None:
    created = cli(server, "ada", "llm", "keys", "create", "cli", "--team", "payments", "-o", "json")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=key["key"], max_retries=0)
    client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=3
    )
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(
            model="gpt-4.1-mini", messages=[{"role": "user", "content": "x"}]
        )

    models = cli(server, "ada", "llm", "models", "-o", "json")
    assert models.returncode == 0, models.stderr
    served = {m["model"]: m for m in json.loads(models.stdout)["items"]}
    assert served["gpt-4o-mini"]["input_per_million"] == "0.15"
    assert served["gpt-4o-mini"]["teams"] == ["ml-research", "payments"]

    usage = cli(server, "ada", "llm", "usage", "--key", key["id"], "-o", "json")
    assert usage.returncode == 0, usage.stderr
    rows = {r["outcome"]: r for r in json.loads(usage.stdout)["items"]}
    assert rows["ok"]["tokens_out"] == 3 and rows["refused"]["model"] == "gpt-4.1-mini"

    revoked = cli(server, "ada", "llm", "keys", "revoke", key["id"])
    assert revoked.returncode == 0, revoked.stderr
    with pytest.raises(openai.AuthenticationError):
        client.models.list()

    with server.client("lee") as api:
        stats = api.get("/api/v1/llm/stats").json()
    assert stats["refused_models"]["gpt-4.1-mini"] >= 1
    assert float(stats["spend_by_team"]["payments"]) > 0
