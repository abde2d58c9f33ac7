"""Helpers of the gateway tests: registered agents and upstream servers, audit reads, children."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from plinth.capabilities.agents import service as agents
from plinth.capabilities.audit import service as audit
from plinth.capabilities.audit.models import AuditRecord
from plinth.capabilities.authz import Authorizer
from plinth.capabilities.inventory import service as inventory
from plinth.orchestration.mcp_gateway import Gateway, GatewaySettings, StaticCredentials
from plinth.orchestration.platform import Platform

__all__ = [
    "TIME_SERVER",
    "agent_token",
    "audit_records",
    "child_pids",
    "make_gateway",
    "register_agent",
    "register_server",
]

# The published reference server from PyPI (mcp-server-time), started over stdio.
TIME_SERVER: dict[str, Any] = {
    "command": ["python", "-m", "mcp_server_time", "--local-timezone", "UTC"],
    "owner": "platform",
    "trust": "trusted",
    "version": "2026.10.19",
    "description": "current time and time zone conversion",
}


def register_agent(
    platform: Platform, name: str, *, tools: Sequence[str], team: str = "payments"
) -> None:
    """Register an agent that may use the gateway and call ``tools`` (globs)."""
    spec = {
        "team": team,
        "purpose": "tests the MCP gateway",
        "identity": {"audiences": ["plinth-gateway", "plinth-mcp"]},
        "capability": {"tools": list(tools)},
    }
    with platform.db.transaction() as session:
        agents.upsert_agent(
            session, name=name, spec=spec, box=platform.box, ids=platform.ids, clock=platform.clock
        )


def agent_token(platform: Platform, name: str, audience: str = "plinth-gateway") -> str:
    """Issue a signed token of agent ``name`` for ``audience``."""
    with platform.db.transaction() as session:
        issued = agents.issue_agent_token(
            session,
            agent=name,
            audience=audience,
            ttl_seconds=None,
            scopes=[],
            box=platform.box,
            ids=platform.ids,
            clock=platform.clock,
        )
        return issued.token


def register_server(platform: Platform, name: str, spec: Mapping[str, Any]) -> None:
    """Store an ``McpServer`` document (as the one path would after applying it)."""
    body = {
        "apiVersion": "plinth.dev/v1",
        "kind": "McpServer",
        "metadata": {"name": name},
        "spec": dict(spec),
    }
    with platform.db.transaction() as session:
        inventory.put_document(
            session,
            kind="McpServer",
            name=name,
            body=body,
            actor="pat",
            plan_digest="",
            ids=platform.ids,
            clock=platform.clock,
        )


def make_gateway(
    platform: Platform,
    *,
    settings: GatewaySettings | None = None,
    secrets: Mapping[str, Mapping[str, str]] | None = None,
) -> Gateway:
    """Return a gateway over the platform's store with the default Cedar policies."""
    authorizer = Authorizer.default()
    return Gateway(
        platform.db,
        authorizer=lambda: authorizer,
        clock=platform.clock,
        ids=platform.ids,
        settings=settings or GatewaySettings(),
        credentials=StaticCredentials(secrets or {}),
    )


def audit_records(platform: Platform, action: str) -> list[dict[str, Any]]:
    """Return the audit records of one action, oldest first, as API data."""
    with platform.db.read() as session:
        rows = session.query(AuditRecord).filter(AuditRecord.action == action)
        return [audit.record_as_dict(r) for r in rows.order_by(AuditRecord.seq)]


def child_pids() -> list[int]:
    """Return the pids of this process's living child processes."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if fields and fields[0] != "Z" and int(fields[1]) == me:
            found.append(int(entry.name))
    return found
