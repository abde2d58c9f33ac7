"""A tiny MCP server over Streamable HTTP: the upstream every path of the gateway benchmark calls.

Run: ``python benchmarks/mcp_upstream.py --port 9100`` (serves ``/mcp``). Two read-only,
idempotent tools, ``echo`` (returns its ``text``) and ``add`` (returns ``a + b``), written
with the official MCP SDK's low-level server, answering with plain JSON (no SSE stream).
Used only by ``benchmarks/mcp_gateway.py``; no part of Plinth imports it.
"""

from __future__ import annotations

import argparse
from typing import Any

import mcp_types as types
import uvicorn
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.server.transport_security import TransportSecuritySettings

__all__ = ["build_app", "main"]

_SAFE = types.ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
TOOLS = [
    types.Tool(
        name="echo",
        description="Return the text it is given.",
        input_schema={
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        },
        annotations=_SAFE,
    ),
    types.Tool(
        name="add",
        description="Add two numbers.",
        input_schema={
            "type": "object",
            "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            "required": ["a", "b"],
        },
        annotations=_SAFE,
    ),
]


async def _list_tools(
    ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    return types.ListToolsResult(tools=TOOLS)


async def _call_tool(
    ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
) -> types.CallToolResult:
    args = params.arguments or {}
    if params.name == "echo":
        text = str(args.get("text", ""))
    elif params.name == "add":
        text = str(float(args.get("a", 0)) + float(args.get("b", 0)))
    else:
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=f"no tool {params.name}")], is_error=True
        )
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)])


def build_app() -> Any:
    """Return the ASGI app serving the two tools at ``/mcp``."""
    server: Server[Any] = Server(
        "bench-upstream", version="1", on_list_tools=_list_tools, on_call_tool=_call_tool
    )
    return server.streamable_http_app(
        streamable_http_path="/mcp",
        json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )


def main() -> None:
    """Serve the upstream on loopback until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()
    uvicorn.run(build_app(), host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
