"""The demo organisation's AI side: payments' deploy bot, the MCP server it uses, a GPU pool.

Seeded straight into the store (like the rest of the demo organisation); in a
real organisation a platform engineer applies the same documents with
``plinth apply -f``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from plinth.capabilities.agents import service as agents
from plinth.core.clock import Clock
from plinth.core.ids import IdFactory
from plinth.core.secrets import SecretBox
from plinth.orchestration.seed import put_missing

__all__ = ["DEMO_AGENT", "DEMO_MCP_SERVER", "DEMO_POOL", "seed_agents"]

DEMO_AGENT: dict[str, Any] = {
    "apiVersion": "plinth.dev/v1",
    "kind": "Agent",
    "metadata": {"name": "deploy-bot"},
    "spec": {
        "team": "payments",
        "purpose": "Deploys the payments team's services from golden-path templates.",
        "identity": {
            "token_ttl_seconds": 900,
            "audiences": ["plinth-api", "plinth-mcp", "plinth-gateway"],
        },
        "context": {"read": ["templates", "workloads", "plans", "approvals"]},
        "capability": {"actions": ["read", "plan", "apply"], "tools": ["time/*"]},
        "execution": {
            "environments": ["dev", "staging", "prod"],
            "quotas": {"cpu": "2", "memory": "2Gi", "accelerators": 0},
        },
        "evaluation": {"checks": ["plan-has-no-denials"]},
        "security": {"egress": ["localhost:8080"], "data_classes": ["internal"]},
        "observability": {"log": ["tool-calls", "plans", "applies"]},
        "autonomy": {
            "actions": ["create", "update"],
            "environments": ["dev", "staging"],
            "max_cost_delta_per_change": "50.00",
            "max_cost_delta_per_day": "150.00",
            "max_accelerators": 0,
            "may_delete": False,
            "may_touch_prod": False,
            "approval_ttl_seconds": 86400,
        },
    },
}

DEMO_MCP_SERVER: dict[str, Any] = {
    "apiVersion": "plinth.dev/v1",
    "kind": "McpServer",
    "metadata": {"name": "time"},
    "spec": {
        "command": ["python", "-m", "mcp_server_time", "--local-timezone", "UTC"],
        "owner": "platform",
        "trust": "trusted",
        "version": "2026.10.19",
        "description": "Current time and time-zone conversion (the mcp-server-time package).",
    },
}


DEMO_POOL: dict[str, Any] = {
    "apiVersion": "plinth.dev/v1",
    "kind": "AcceleratorPool",
    "metadata": {"name": "lab"},
    "spec": {
        "description": "Declared demo pool: two nodes of four L4 GPUs (no NVML discovery).",
        "discovery": "declared",
        "nodes": [
            {"name": "gpu-node-1", "accelerators": {"type": "L4", "count": 4, "memory_gib": 24}},
            {"name": "gpu-node-2", "accelerators": {"type": "L4", "count": 4, "memory_gib": 24}},
        ],
        "queues": [
            {"team": "ml-research", "nominal": {"L4": 6}, "borrowing_limit": {"L4": 2}},
            {"team": "payments", "nominal": {"L4": 2}, "lending_limit": {"L4": 2}},
        ],
        "preemption": {"grace_seconds": 120},
    },
}


def seed_agents(session: Session, *, box: SecretBox, ids: IdFactory, clock: Clock) -> list[str]:
    """Register the demo agent and store the demo MCP server when absent; return what was added."""
    added = put_missing(session, (DEMO_AGENT, DEMO_MCP_SERVER, DEMO_POOL), ids=ids, clock=clock)
    if "Agent/deploy-bot" in added:
        agents.upsert_agent(
            session, name="deploy-bot", spec=DEMO_AGENT["spec"], box=box, ids=ids, clock=clock
        )
    return added
