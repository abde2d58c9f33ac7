"""The registry of upstream MCP servers: ``McpServer`` documents -> upstream definitions.

An ``McpServer`` document (``plinth.dev/v1``) names an upstream reached either by a
Streamable HTTP ``url`` or by a stdio ``command`` (an argv list), with its owner team,
trust tier (``trusted`` | ``internal`` | ``untrusted``), version and description.
Credentials never appear in the document: ``headers_secret`` names a platform secret
whose headers the gateway sends upstream (never the agent's own token).

In the gateway's virtual server a tool is named ``<server>__<tool>``; server names are
DNS labels (no underscores), so the first ``__`` always separates the two.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.orm import Session

from plinth.capabilities.inventory import service as inventory
from plinth.core.errors import InvalidInput, NotFound

__all__ = [
    "KIND",
    "SEPARATOR",
    "TRUST_TIERS",
    "UpstreamDefinition",
    "load_upstreams",
    "parse_mcp_server",
    "qualified_name",
    "split_name",
]

KIND = "McpServer"
SEPARATOR = "__"
TRUST_TIERS = ("trusted", "internal", "untrusted")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class UpstreamDefinition:
    """One upstream MCP server as the gateway reaches it."""

    name: str
    trust: str
    owner: str = ""
    url: str = ""
    command: tuple[str, ...] = ()
    version: str = ""
    description: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    headers_secret: str = ""
    cost_per_call: Decimal = Decimal(0)

    @property
    def transport(self) -> str:
        """Return ``http`` or ``stdio``."""
        return "http" if self.url else "stdio"

    def fingerprint(self) -> tuple[Any, ...]:
        """Return what decides how the upstream is started (a change means a restart)."""
        return (self.url, self.command, tuple(sorted(self.env.items())), self.headers_secret)


def qualified_name(server: str, tool: str) -> str:
    """Return the virtual server's name of an upstream tool: ``<server>__<tool>``."""
    return f"{server}{SEPARATOR}{tool}"


def split_name(name: str) -> tuple[str, str]:
    """Split a virtual tool name into (server, tool); raise NotFound when it is not one."""
    server, sep, tool = name.partition(SEPARATOR)
    if not sep or not server or not tool:
        raise NotFound(f"unknown tool {name!r}: gateway tools are named <server>__<tool>")
    return server, tool


def _text(spec: Mapping[str, Any], key: str) -> str:
    value = spec.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str | int | float):
        raise InvalidInput(f"spec.{key} must be a string", extra={"path": f"$.spec.{key}"})
    return str(value)


def _command(spec: Mapping[str, Any]) -> tuple[str, ...]:
    raw = spec.get("command")
    if raw is None:
        return ()
    if isinstance(raw, str) or not isinstance(raw, list) or not raw:
        raise InvalidInput(
            "spec.command must be a non-empty list of arguments (argv)",
            extra={"path": "$.spec.command"},
        )
    if not all(isinstance(a, str) and a for a in raw):
        raise InvalidInput(
            "every spec.command argument must be a non-empty string",
            extra={"path": "$.spec.command"},
        )
    return tuple(raw)


def _env(spec: Mapping[str, Any]) -> dict[str, str]:
    raw = spec.get("env") or {}
    if not isinstance(raw, Mapping):
        raise InvalidInput("spec.env must be a mapping", extra={"path": "$.spec.env"})
    env: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not _ENV_NAME.match(key):
            raise InvalidInput(
                f"spec.env: {key!r} is not a variable name", extra={"path": "$.spec.env"}
            )
        env[key] = str(value)
    return env


def _cost(spec: Mapping[str, Any]) -> Decimal:
    raw = spec.get("cost_per_call", 0)
    try:
        cost = Decimal(str(raw))
    except InvalidOperation as exc:
        raise InvalidInput(
            "spec.cost_per_call must be a number", extra={"path": "$.spec.cost_per_call"}
        ) from exc
    if not cost.is_finite() or cost < 0:
        raise InvalidInput(
            "spec.cost_per_call must be zero or more", extra={"path": "$.spec.cost_per_call"}
        )
    return cost


def parse_mcp_server(name: str, spec: Mapping[str, Any]) -> UpstreamDefinition:
    """Validate an ``McpServer`` spec; raise InvalidInput naming the bad path."""
    if not _NAME.match(name):
        raise InvalidInput(
            f"McpServer name {name!r} must be a DNS label (lowercase letters, digits, '-')",
            extra={"path": "$.metadata.name"},
        )
    url, command = _text(spec, "url"), _command(spec)
    if bool(url) == bool(command):
        raise InvalidInput(
            "an McpServer has exactly one of spec.url (Streamable HTTP) and spec.command (stdio)",
            extra={"path": "$.spec"},
        )
    if url and not url.startswith(("http://", "https://")):
        raise InvalidInput("spec.url must be an http(s) URL", extra={"path": "$.spec.url"})
    trust = _text(spec, "trust") or "untrusted"
    if trust not in TRUST_TIERS:
        raise InvalidInput(
            f"spec.trust must be one of {', '.join(TRUST_TIERS)}", extra={"path": "$.spec.trust"}
        )
    return UpstreamDefinition(
        name=name,
        trust=trust,
        owner=_text(spec, "owner"),
        url=url,
        command=command,
        version=_text(spec, "version"),
        description=_text(spec, "description"),
        env=_env(spec),
        headers_secret=_text(spec, "headers_secret"),
        cost_per_call=_cost(spec),
    )


def load_upstreams(session: Session) -> dict[str, UpstreamDefinition]:
    """Return every valid registered upstream by name (invalid documents are skipped)."""
    found: dict[str, UpstreamDefinition] = {}
    token: str | None = None
    while True:
        page = inventory.list_documents(session, kind=KIND, limit=500, page_token=token)
        for record in page.items:
            spec = (record.body or {}).get("spec") or {}
            try:
                found[record.name] = parse_mcp_server(record.name, spec)
            except InvalidInput:
                continue  # the one path validates documents; an old bad one is not served
        token = page.next_page_token
        if token is None:
            return found
