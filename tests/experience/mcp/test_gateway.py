"""The MCP gateway end to end: the official SDK client as the agent, real upstream servers.

The control plane's app with ``/gateway/mcp`` mounted is served by uvicorn on loopback.
Upstreams: the published ``mcp-server-time`` (PyPI), which the gateway starts over
stdio, and a small Streamable HTTP server written here that records the
``Authorization`` header of every request it receives, to prove the agent's token
never travels upstream. Its destructive tool is on an untrusted server, so Cedar holds
each call for a human.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp_types as types
import pytest
import uvicorn
from mcp import Client
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from starlette.types import ASGIApp, Receive, Scope, Send
from tests.fakes.provider import registry_with_fake
from tests.orchestration.mcp_gateway.support import (
    TIME_SERVER,
    agent_token,
    audit_records,
    child_pids,
    make_gateway,
    register_agent,
    register_server,
)
from tests.support import free_port

from plinth.capabilities.agents import service as agents
from plinth.capabilities.audit import service as audit
from plinth.capabilities.identity import service as identity
from plinth.capabilities.identity.schemas import Actor
from plinth.core.config import Settings
from plinth.experience.api.app import create_app
from plinth.experience.mcp.gateway import (
    GATEWAY_AUDIENCE,
    GATEWAY_PATH,
    GatewayEndpoint,
)
from plinth.orchestration.mcp_gateway import META_KEY, Gateway, GatewaySettings
from plinth.orchestration.platform import Platform

AGENT = "scheduler"
UPSTREAM_SECRET = "Bearer upstream-credential-of-the-records-server"


def _recorder(seen: list[str]) -> ASGIApp:
    """An upstream MCP server over Streamable HTTP that records each request's Authorization."""
    tools = [
        types.Tool(
            name="whoami",
            input_schema={"type": "object"},
            annotations=types.ToolAnnotations(read_only_hint=True, destructive_hint=False),
        ),
        types.Tool(
            name="delete_record",
            input_schema={"type": "object", "properties": {"id": {"type": "string"}}},
            annotations=types.ToolAnnotations(read_only_hint=False, destructive_hint=True),
        ),
    ]

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        text = f"{params.name} done with {params.arguments}"
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)])

    server: Server[Any] = Server("records", on_list_tools=list_tools, on_call_tool=call_tool)
    inner = server.streamable_http_app(streamable_http_path="/mcp")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            seen.append(headers.get(b"authorization", b"").decode())
        await inner(scope, receive, send)

    return app


@contextmanager
def _serve(app: ASGIApp) -> Iterator[str]:
    """Serve ``app`` with uvicorn on loopback in a thread; yield its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@dataclass
class Served:
    """The control plane with the gateway, its upstreams and the agent's token."""

    url: str
    platform: Platform
    gateway: Gateway
    endpoint: GatewayEndpoint
    token: str
    upstream_saw: list[str] = field(default_factory=list)

    def human(self, name: str) -> Actor:
        with self.platform.db.read() as session:
            return identity.actor_by_name(session, name)


def _authenticator(platform: Platform) -> Callable[[str | None], Actor] | None:
    """The platform's own authentication once it takes an audience; until then the agents'."""
    if "audience" in inspect.signature(platform.authenticate).parameters:
        return None

    def authenticate(token: str | None) -> Actor:
        with platform.db.read() as session:
            return agents.authenticate_agent(
                session,
                token or "",
                audience=GATEWAY_AUDIENCE,
                box=platform.box,
                clock=platform.clock,
            )

    return authenticate


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """A platform on SQLite serving /gateway/mcp, with ``time`` and ``records`` registered."""
    settings = Settings(data_dir=tmp_path / "data", port=free_port())
    registry, _ = registry_with_fake()
    platform = Platform(settings, registry=registry)
    platform.prepare()
    seen: list[str] = []
    before = set(child_pids())
    with _serve(_recorder(seen)) as upstream_url:
        register_server(platform, "time", TIME_SERVER)
        register_server(
            platform,
            "records",
            {
                "url": f"{upstream_url}/mcp",
                "owner": "platform",
                "trust": "untrusted",
                "headers_secret": "records-credential",
            },
        )
        register_agent(platform, AGENT, tools=["time/get_current_time", "records/*"])
        gateway = make_gateway(
            platform,
            settings=GatewaySettings(max_argument_bytes=4096),
            secrets={"records-credential": {"Authorization": UPSTREAM_SECRET}},
        )
        endpoint = GatewayEndpoint(platform, gateway, authenticate=_authenticator(platform))
        app = create_app(platform, gateway_endpoint=endpoint)
        with _serve(app) as url:
            yield Served(
                url=url + GATEWAY_PATH,
                platform=platform,
                gateway=gateway,
                endpoint=endpoint,
                token=agent_token(platform, AGENT),
                upstream_saw=seen,
            )
    platform.stop()
    assert set(child_pids()) <= before, "a server process outlived the test"


@asynccontextmanager
async def _agent(served: Served, token: str | None = None) -> AsyncIterator[ClientSession]:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token or served.token}"})
    async with (
        http,
        streamable_http_client(served.url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def _meta(result: types.CallToolResult) -> dict[str, Any]:
    return dict((result.meta or {}).get(META_KEY, {}))


def _text(result: types.CallToolResult) -> str:
    return " ".join(c.text for c in result.content if isinstance(c, types.TextContent))


def test_agent_uses_upstream_tools_through_the_gateway(served: Served) -> None:
    async def main() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with _agent(served) as session:
            seen["tools"] = sorted(t.name for t in (await session.list_tools()).tools)
            now = await session.call_tool("time__get_current_time", {"timezone": "UTC"})
            seen["now"] = now.structured_content
            with pytest.raises(MCPError) as refused:
                await session.call_tool("time__convert_time", {})
            seen["refused"] = refused.value.error.message
            big = await session.call_tool("time__get_current_time", {"timezone": "x" * 5000})
            seen["oversize"] = (big.is_error, _text(big))
        return seen

    seen = anyio.run(main)
    assert seen["tools"] == ["records__delete_record", "records__whoami", "time__get_current_time"]
    assert seen["now"]["timezone"] == "UTC"
    assert "unknown tool 'time__convert_time'" in seen["refused"]
    assert seen["oversize"][0] is True and "over the limit of 4096 bytes" in seen["oversize"][1]
    served.gateway.writer.flush()
    outcomes = [r["data"]["outcome"] for r in audit_records(served.platform, "gateway.tool_call")]
    assert outcomes == ["ok", "refused", "blocked"]


def test_untrusted_destructive_call_waits_for_a_human_and_passes_once(served: Served) -> None:
    approval: dict[str, str] = {}

    async def call(session: ClientSession) -> types.CallToolResult:
        return await session.call_tool("records__delete_record", {"id": "r-1"})

    async def main() -> list[types.CallToolResult]:
        results = []
        async with _agent(served) as session:
            results.append(await call(session))
            approval["id"] = _meta(results[0])["approval"]
            results.append(await call(session))  # still pending: the same request
            await anyio.to_thread.run_sync(
                lambda: served.gateway.review(
                    served.human("ada"), approval["id"], approve=True, reason="fine"
                )
            )
            results.append(await call(session))  # approved: passes
            results.append(await call(session))  # once only
        return results

    held, again, passed, once_only = anyio.run(main)
    assert held.is_error and f"waiting for approval {approval['id']}" in _text(held)
    assert _meta(again)["approval"] == approval["id"]
    assert not passed.is_error and "delete_record done" in _text(passed)
    assert once_only.is_error and _meta(once_only)["approval"] != approval["id"]
    # The upstream saw the server's own credential on every request, never the agent's token.
    assert served.upstream_saw and set(served.upstream_saw) == {UPSTREAM_SECRET}
    assert not any(served.token in header for header in served.upstream_saw)
    served.gateway.writer.flush()
    decided = audit_records(served.platform, "gateway.approval_decided")
    assert [r["actor"] for r in decided] == ["ada"]
    with served.platform.db.read() as session:
        assert audit.verify(session).ok


def test_agents_cannot_approve_and_humans_cannot_call(served: Served) -> None:
    async def main() -> str:
        async with _agent(served) as session:
            held = await session.call_tool("records__delete_record", {"id": "r-2"})
            return str(_meta(held)["approval"])

    approval = anyio.run(main)
    with served.platform.db.read() as session:
        agent = identity.actor_by_name(session, AGENT)
    with pytest.raises(Exception, match="may not decide"):
        served.gateway.review(agent, approval, approve=True, reason="self-approval")
    human_token = agent_token(served.platform, AGENT, audience="plinth-mcp")
    response = httpx.post(
        served.url,
        headers={"Authorization": f"Bearer {human_token}", "Accept": "application/json"},
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
    )
    assert response.status_code == 401 and "plinth-gateway" in response.text


def test_rate_limit_and_malformed_requests(served: Served) -> None:
    served.gateway.rate.burst = 2
    served.gateway.rate.rate = 0.001

    async def main() -> list[types.CallToolResult]:
        async with _agent(served) as session:
            return [
                await session.call_tool("time__get_current_time", {"timezone": "UTC"})
                for _ in range(3)
            ]

    results = anyio.run(main)
    assert [r.is_error for r in results] == [False, False, True]
    assert _meta(results[2])["outcome"] == "rate_limited"
    headers = {
        "Authorization": f"Bearer {served.token}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    malformed = httpx.post(served.url, headers=headers, content=b"{not json")
    assert malformed.status_code == 400 and "Parse error" in malformed.text
    forged = httpx.post(
        served.url,
        headers={**headers, "Authorization": "Bearer eyJhbGciOi.forged.token"},
        content=b"{}",
    )
    assert forged.status_code == 401
    served.gateway.writer.flush()
    rejected = audit_records(served.platform, "gateway.rejected")
    assert [r["data"]["status"] for r in rejected] == [400, 401]
    assert rejected[0]["actor"] == AGENT and "malformed" in rejected[0]["data"]["reason"]


def test_revocation_takes_effect_on_the_next_request(served: Served) -> None:
    headers = {
        "Authorization": f"Bearer {served.token}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    ping = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    for _ in range(3):  # the token is checked once, then remembered
        assert httpx.post(served.url, headers=headers, json=ping).status_code != 401
    with served.platform.db.transaction() as session:
        agents.revoke(session, agent=AGENT, jti=None, actor="test", clock=served.platform.clock)
    refused = httpx.post(served.url, headers=headers, json=ping)
    assert refused.status_code == 401 and "revoked" in refused.text


def _raw_session(served: Served) -> tuple[httpx.Client, dict[str, str]]:
    """Open a 2025-11-25 session with raw JSON-RPC POSTs; return the client and its headers."""
    client = httpx.Client(timeout=30)
    headers = {
        "Authorization": f"Bearer {served.token}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    opened = client.post(
        served.url,
        headers=headers,
        json={
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"},
            },
        },
    )
    assert opened.status_code == 200, opened.text
    headers["Mcp-Session-Id"] = opened.headers["mcp-session-id"]
    headers["MCP-Protocol-Version"] = "2025-11-25"
    done = client.post(
        served.url, headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"}
    )
    assert done.status_code == 202
    return client, headers


def _timeless(message: Any) -> Any:
    """The message with the current time and approval ids masked (they differ per call)."""
    result = message.get("result", {})
    for item in result.get("content", []):
        if '"datetime"' in item.get("text", ""):
            item["text"] = "<time>"
    meta = result.get("_meta", {}).get(META_KEY, {})
    for key in ("approval", "expires_at"):
        if key in meta:
            meta[key] = "<id>"
    for item in result.get("content", []):
        if "waiting for approval" in item.get("text", ""):
            item["text"] = "waiting for approval <id>"
    return message


def test_fast_path_answers_exactly_as_the_sdk(served: Served) -> None:
    client, headers = _raw_session(served)
    fast = served.endpoint.fast
    calls = [
        {"name": "records__whoami", "arguments": {}},
        {"name": "records__whoami"},
        {"name": "records__nothing", "arguments": {}},
        {"name": "time__convert_time", "arguments": {}},  # not granted
        {"name": "records__whoami", "arguments": {"big": "x" * 5000}},  # screened
        {"name": "time__get_current_time", "arguments": {"timezone": "UTC"}},
    ]
    try:
        answers: dict[str, list[tuple[int, str, str, Any]]] = {}
        for mode in ("fast", "sdk"):
            served.endpoint.fast = fast if mode == "fast" else None
            answers[mode] = []
            for n, params in enumerate(calls):
                message = {"jsonrpc": "2.0", "id": n + 1, "method": "tools/call", "params": params}
                response = client.post(served.url, headers=headers, json=message)
                answers[mode].append(
                    (
                        response.status_code,
                        response.headers["content-type"],
                        response.headers.get("mcp-session-id", ""),
                        _timeless(response.json()),
                    )
                )
        served.endpoint.fast = fast
        other = {**headers, "Mcp-Session-Id": "not-a-session"}
        unknown = client.post(
            served.url,
            headers=other,
            json={"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": calls[0]},
        )
    finally:
        client.close()
    assert fast is not None and fast.answered == len(calls)
    assert answers["fast"] == answers["sdk"]
    assert "waiting for approval" in answers["fast"][0][3]["result"]["content"][0]["text"]
    assert answers["fast"][-1][3]["result"]["content"][0]["text"] == "<time>"
    assert answers["fast"][2][3]["error"]["code"] == types.INVALID_PARAMS
    assert unknown.status_code == 404  # the SDK's answer for an unknown session


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_both_protocol_revisions_call_through_the_gateway(served: Served, mode: str) -> None:
    async def main() -> tuple[str, list[types.CallToolResult]]:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {served.token}"})
        async with (
            http,
            Client(streamable_http_client(served.url, http_client=http), mode=mode) as client,
        ):
            names = {t.name for t in (await client.list_tools()).tools}
            assert "time__get_current_time" in names
            calls = [
                await client.call_tool("time__get_current_time", {"timezone": "UTC"})
                for _ in range(3)
            ]
            calls.append(await client.call_tool("records__delete_record", {"id": "r-9"}))
            return client.protocol_version, calls

    version, results = anyio.run(main)
    assert version == ("2025-11-25" if mode == "legacy" else mode)
    assert [r.is_error for r in results] == [False, False, False, True]
    assert '"datetime"' in _text(results[0])
    assert _meta(results[3])["outcome"] == "needs_approval"
    served.gateway.writer.flush()
    outcomes = [r["data"]["outcome"] for r in audit_records(served.platform, "gateway.tool_call")]
    assert outcomes == ["ok", "ok", "ok", "needs_approval"]
