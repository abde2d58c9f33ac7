"""The MCP gateway: one virtual MCP server over the registered upstream MCP servers.

Agents see only the tools they are granted and Cedar allows; every call is rate-limited,
budgeted, screened, authorized, held for a human when policy says so, and recorded in
the audit chain. See ``gateway.py`` for the pipeline.
"""

from __future__ import annotations

from plinth.orchestration.mcp_gateway.gateway import (
    META_KEY,
    Gateway,
    GatewaySettings,
    ToolAuthorizer,
    ToolRefused,
)
from plinth.orchestration.mcp_gateway.registry import (
    SEPARATOR,
    UpstreamDefinition,
    parse_mcp_server,
    qualified_name,
    split_name,
)
from plinth.orchestration.mcp_gateway.screens import (
    ContentScreen,
    Screen,
    ScreenRegistry,
    ScreenResult,
    SizeShapeScreen,
    ToolRef,
)
from plinth.orchestration.mcp_gateway.upstreams import (
    CredentialSource,
    EnvironmentCredentials,
    StaticCredentials,
    UpstreamUnavailable,
)

__all__ = [
    "META_KEY",
    "SEPARATOR",
    "ContentScreen",
    "CredentialSource",
    "EnvironmentCredentials",
    "Gateway",
    "GatewaySettings",
    "Screen",
    "ScreenRegistry",
    "ScreenResult",
    "SizeShapeScreen",
    "StaticCredentials",
    "ToolAuthorizer",
    "ToolRef",
    "ToolRefused",
    "UpstreamDefinition",
    "UpstreamUnavailable",
    "parse_mcp_server",
    "qualified_name",
    "split_name",
]
