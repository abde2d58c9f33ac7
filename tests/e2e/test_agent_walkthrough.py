"""docs/agents.md as a test: an agent deploys to dev on its own, waits for a human in prod.

A real control plane process (SQLite, the local provider, the demo organisation with
its ``deploy-bot`` agent); the official MCP client as the agent; the CLI as the humans.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types import CallToolResult

from tests.support import REPO, start_server

PLINTH = str(Path(sys.executable).parent / "plinth")
HELLO = """\
apiVersion: score.dev/v1b1
metadata: {name: hello}
containers:
  main:
    image: python:3.11-slim
    command: ["python", "-m", "http.server", "8080"]
service:
  ports:
    web: {port: 8080}
"""


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real CLI."""
    return subprocess.run(
        [PLINTH, *args], env=env, capture_output=True, text=True, timeout=120, cwd=REPO
    )


@asynccontextmanager
async def agent_session(url: str, token: str) -> AsyncIterator[Client]:
    """The official MCP client, connected to /mcp with the agent's token."""
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    async with http, Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
        yield client


def data(result: CallToolResult) -> dict[str, Any]:
    """Return a tool result's structured content (failing on tool errors)."""
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return dict(result.structured_content)


def test_agent_walkthrough(tmp_path: Path) -> None:
    with start_server(tmp_path / "data") as server:
        ada, rita = server.cli_env("ada"), server.cli_env("rita")
        listed = json.loads(cli(ada, "agents", "list", "-o", "json").stdout)
        assert [a["name"] for a in listed["items"]] == ["deploy-bot"]
        issued = cli(ada, "agents", "token", "deploy-bot", "--audience", "plinth-mcp", "-o", "json")
        assert issued.returncode == 0, issued.stderr
        token = json.loads(issued.stdout)["token"]

        async def agent_work() -> tuple[dict[str, Any], dict[str, Any]]:
            async with agent_session(server.url, token) as agent:
                templates = data(await agent.call_tool("list_templates", {}))
                assert "web-service" in {t["name"] for t in templates["items"]}
                dev = data(
                    await agent.call_tool(
                        "plan", {"documents": HELLO, "environment": "dev", "project": "checkout"}
                    )
                )
                done = data(await agent.call_tool("apply", {"digest": dev["digest"]}))
                prod = data(
                    await agent.call_tool(
                        "plan", {"documents": HELLO, "environment": "prod", "project": "checkout"}
                    )
                )
                waiting = data(await agent.call_tool("apply", {"digest": prod["digest"]}))
                return done, waiting

        done, waiting = anyio.run(agent_work)
        assert done["status"] == "applied"
        assert waiting["status"] == "waiting_for_approval"
        assert any("prod" in reason for reason in waiting["reasons"])
        request = waiting["approval"]
        assert (request["team"], request["status"]) == ("payments", "pending")
        digest = waiting["digest"]

        pending = json.loads(cli(rita, "approvals", "list", "--mine", "-o", "json").stdout)
        assert [i["digest"] for i in pending["items"]] == [digest]
        approved = cli(rita, "approvals", "approve", digest, "--reason", "release window")
        assert approved.returncode == 0, approved.stdout + approved.stderr

        async def agent_waits() -> dict[str, Any]:
            async with agent_session(server.url, token) as agent:
                return data(
                    await agent.call_tool("get_approval", {"digest": digest, "wait_seconds": 5})
                )

        assert anyio.run(agent_waits)["status"] == "applied"
        verified = json.loads(cli(ada, "audit", "verify", "-o", "json").stdout)
        assert verified["ok"] is True
        with server.client("sam") as api:
            records = api.get("/api/v1/audit", params={"limit": 500}).json()["items"]
        chain = [(r["action"], r["actor"]) for r in records if r["subject"] == f"plan/{digest}"]
        assert chain[0] == ("plan.created", "deploy-bot")
        assert ("plan.approved", "rita") in chain
        assert chain[-1][1] == "deploy-bot"
        created = next(r for r in records if r["subject"] == f"plan/{digest}")
        assert created["data"]["identity"]["audience"] == "plinth-mcp"
