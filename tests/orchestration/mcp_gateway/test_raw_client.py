"""The gateway's lean upstream client against real SDK servers (SSE and JSON answers)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import mcp_types as types
import pytest
import uvicorn
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server

from plinth.infrastructure.http11 import usable
from plinth.orchestration.mcp_gateway.raw_client import (
    RawToolClient,
    UpstreamRpcError,
    UpstreamTransportError,
)
from tests.support import free_port


def _server() -> Server[Any]:
    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[types.Tool(name="echo", input_schema={})])

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        if params.name != "echo":
            raise ValueError(f"no tool {params.name}")
        text = str((params.arguments or {}).get("text", ""))
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)])

    return Server("echo", on_list_tools=list_tools, on_call_tool=call_tool)


@contextmanager
def _upstream(*, json_response: bool) -> Iterator[str]:
    """Serve an SDK server over Streamable HTTP in a thread; yield its MCP URL."""
    app = _server().streamable_http_app(streamable_http_path="/mcp", json_response=json_response)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.mark.parametrize("json_response", [True, False], ids=["json", "sse"])
def test_calls_reuse_connections_and_reopen_an_expired_session(json_response: bool) -> None:
    with _upstream(json_response=json_response) as url:

        async def main() -> list[Any]:
            raw = RawToolClient(url, headers={}, client_version="test", timeout_s=10)
            await raw.open()
            try:
                seen: list[Any] = [await raw.call("echo", {"text": f"t{i}"}) for i in range(3)]
                first_session = dict(raw._session)
                await raw._send("DELETE", b"", raw._session)  # the upstream forgets it
                seen.append(await raw.call("echo", {"text": "after"}))
                seen.append(raw._session != first_session)
                with pytest.raises(UpstreamRpcError):
                    await raw.call("nothing", {})
            finally:
                await raw.aclose()
            return seen

        seen = anyio.run(main)
    texts = [r["content"][0]["text"] for r in seen[:4]]
    assert texts == ["t0", "t1", "t2", "after"] and seen[4] is True


def test_unreachable_upstream_is_a_transport_error() -> None:
    async def main() -> None:
        raw = RawToolClient(
            f"http://127.0.0.1:{free_port()}/mcp", headers={}, client_version="t", timeout_s=5
        )
        try:
            with pytest.raises(UpstreamTransportError):
                await raw.open()
        finally:
            await raw.aclose()

    anyio.run(main)


def test_a_proxy_in_the_environment_keeps_the_general_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert usable("http://127.0.0.1:9/mcp") and usable("https://mcp.example/x")
    assert not usable("ftp://example/x")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    assert not usable("https://mcp.example/x")
    assert usable("https://internal.example/x")
