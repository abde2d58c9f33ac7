"""The MCP server: the platform's API as tools for agents (Streamable HTTP at ``/mcp``, stdio)."""

from __future__ import annotations

from plinth.experience.mcp.auth import MCP_AUDIENCE, current_actor
from plinth.experience.mcp.server import McpEndpoint, build_server, mcp_app, mount

__all__ = ["MCP_AUDIENCE", "McpEndpoint", "build_server", "current_actor", "mcp_app", "mount"]
