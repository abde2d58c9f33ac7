"""Red team: what an agent (or someone holding a token) might try, against a real server.

Each attempt is refused with a clear error and leaves an audit record. Finer cases of
the same refusals live beside their code: token checks in
tests/capabilities/agents/test_agents_tokens.py (expired, not yet valid, rotated keys),
egress in tests/infrastructure/providers/local/test_egress.py (a host outside the
allow-list), the gateway in tests/experience/mcp/test_gateway.py.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from tests.support import PlinthServer, start_server, wait_until

AGENT = "deploy-bot"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "redteam", "version": "1"},
    },
}
WIDEN = """\
apiVersion: plinth.dev/v1
kind: Agent
metadata: {name: deploy-bot}
spec:
  team: payments
  purpose: I would like more rope.
  autonomy: {actions: [create, update, delete], environments: [dev, staging, prod],
             may_delete: true, may_touch_prod: true}
"""
PROD_CHANGE = """\
apiVersion: score.dev/v1b1
metadata: {name: sneaky}
containers:
  main: {image: python:3.11-slim, command: ["sleep", "3600"]}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlinthServer]:
    with start_server(tmp_path_factory.mktemp("redteam") / "data") as running:
        yield running


def token(server: PlinthServer, audience: str) -> str:
    """A fresh agent token, issued by a human of the owning team."""
    with server.client("ada") as api:
        made = api.post(f"/api/v1/agents/{AGENT}/tokens", json={"audience": audience})
        assert made.status_code == 201, made.text
        return str(made.json()["token"])


def mcp_post(server: PlinthServer, path: str, bearer: str | None, body: Any) -> httpx.Response:
    headers = {"Accept": "application/json, text/event-stream"}
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    if isinstance(body, bytes):
        headers["Content-Type"] = "application/json"
        return httpx.post(f"{server.url}{path}", content=body, headers=headers, timeout=30)
    return httpx.post(f"{server.url}{path}", json=body, headers=headers, timeout=30)


def audit_since(server: PlinthServer, seq: int, action: str) -> list[dict[str, Any]]:
    with server.client("sam") as api:
        items: list[dict[str, Any]] = api.get("/api/v1/audit", params={"limit": 500}).json()[
            "items"
        ]
    return [r for r in items if r["seq"] > seq and r["action"] == action]


def last_seq(server: PlinthServer) -> int:
    with server.client("sam") as api:
        items = api.get("/api/v1/audit", params={"limit": 500}).json()["items"]
    return int(items[-1]["seq"]) if items else 0


def forge(real: str) -> str:
    """The same header and claims, another signature."""
    header, claims, _ = real.split(".")
    fake = base64.urlsafe_b64encode(b"\x00" * 64).rstrip(b"=").decode()
    return f"{header}.{claims}.{fake}"


def test_bad_tokens_are_refused_and_recorded(server: PlinthServer) -> None:
    seq = last_seq(server)
    good = token(server, "plinth-mcp")
    cases = {
        "forged": forge(good),
        "wrong audience": token(server, "plinth-gateway"),
    }
    for what, bad in cases.items():
        refused = mcp_post(server, "/mcp", bad, INITIALIZE)
        assert refused.status_code == 401, what
        assert refused.headers["content-type"].startswith("application/problem+json"), what
    assert "plinth-gateway" in mcp_post(server, "/mcp", cases["wrong audience"], INITIALIZE).text
    with server.client("ada") as api:
        claims = json.loads(base64.urlsafe_b64decode(good.split(".")[1] + "=="))
        revoked = api.post(f"/api/v1/agents/{AGENT}/tokens/revoke", json={"jti": claims["jti"]})
        assert revoked.status_code == 200, revoked.text
    after = mcp_post(server, "/mcp", good, INITIALIZE)
    assert after.status_code == 401 and "revoked" in after.json()["detail"]
    reasons = [r["data"]["reason"] for r in audit_since(server, seq, "agent.auth.refused")]
    assert len(reasons) >= 3
    assert any("signature" in r for r in reasons)
    assert any("audience" in r for r in reasons)
    assert any("revoked" in r for r in reasons)


def test_tokens_do_not_stand_in_for_each_other(server: PlinthServer) -> None:
    human = mcp_post(server, "/mcp", server.tokens["ada"], INITIALIZE)
    assert human.status_code == 401 and "agent tokens only" in human.json()["detail"]
    api_token = token(server, "plinth-api")
    with httpx.Client(base_url=server.url, timeout=30) as raw:
        ok = raw.get("/api/v1/whoami", headers={"Authorization": f"Bearer {api_token}"})
        assert ok.status_code == 200 and ok.json()["kind"] == "agent"
        mcp_token = token(server, "plinth-mcp")
        wrong = raw.get("/api/v1/whoami", headers={"Authorization": f"Bearer {mcp_token}"})
        assert wrong.status_code == 401 and "audience" in wrong.json()["detail"]


def test_an_agent_cannot_widen_its_envelope_or_approve_itself(server: PlinthServer) -> None:
    seq = last_seq(server)
    bearer = {"Authorization": f"Bearer {token(server, 'plinth-api')}"}
    with httpx.Client(base_url=f"{server.url}/api/v1", headers=bearer, timeout=60) as agent:
        widen = agent.post("/plans", json={"documents": WIDEN, "environment": "dev"}).json()
        assert widen["outcome"] == "deny"
        denied = agent.post(f"/plans/{widen['digest']}/apply")
        assert denied.status_code == 403
        assert "agent" in denied.json()["detail"].lower()
        body = {"documents": PROD_CHANGE, "environment": "prod", "project": "checkout"}
        prod = agent.post("/plans", json=body).json()
        assert prod["outcome"] == "needs_approval"
        waiting = agent.post(f"/plans/{prod['digest']}/apply").json()
        assert waiting["status"] == "waiting_approval"
        self_approval = agent.post(f"/approvals/{prod['digest']}/approve", json={"reason": "me"})
        assert self_approval.status_code == 403
    refusals = audit_since(server, seq, "plan.approval_refused")
    assert [r["actor"] for r in refusals] == [AGENT]
    decisions = [
        r
        for r in audit_since(server, seq, "plan.decision")
        if r["subject"].endswith(widen["digest"])
    ]
    assert decisions and decisions[-1]["data"]["decision"] == "deny"
    with server.client("sam") as api:
        agent_row = api.get(f"/api/v1/agents/{AGENT}").json()
    assert agent_row["autonomy"]["may_touch_prod"] is False


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_gateway_refuses_ungranted_malformed_and_oversize(server: PlinthServer, mode: str) -> None:
    seq = last_seq(server)
    bearer = token(server, "plinth-gateway")
    malformed = mcp_post(server, "/gateway/mcp", bearer, b"{not json")
    assert malformed.status_code == 400

    async def calls() -> tuple[Any, Any, Any]:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {bearer}"})
        url = f"{server.url}/gateway/mcp"
        async with http, Client(streamable_http_client(url, http_client=http), mode=mode) as agent:
            names = {t.name for t in (await agent.list_tools()).tools}
            try:
                ungranted: Any = await agent.call_tool("billing__refund", {"amount": 10})
            except MCPError as exc:  # refused before any tool: a JSON-RPC error
                ungranted = exc
            oversize = await agent.call_tool("time__get_current_time", {"timezone": "x" * 70_000})
            return names, ungranted, oversize

    names, ungranted, oversize = anyio.run(calls)
    assert names and all(n.startswith("time__") for n in names)
    assert isinstance(ungranted, MCPError) and "unknown tool" in str(ungranted)
    assert oversize.is_error

    def recorded() -> list[dict[str, Any]]:
        calls = audit_since(server, seq, "gateway.tool_call")
        return calls if len(calls) >= 2 and audit_since(server, seq, "gateway.rejected") else []

    records = wait_until(recorded, timeout=20, what="gateway audit records")
    tools = {r["data"]["tool"]: r["data"]["outcome"] for r in records}
    assert tools["billing/refund"] == "refused"
    assert tools["time/get_current_time"] == "blocked"


def test_nothing_broke_the_chain(server: PlinthServer, tmp_path: Path) -> None:
    with server.client("sam") as api:
        verified = api.get("/api/v1/audit/verify").json()
    assert verified["ok"] is True
