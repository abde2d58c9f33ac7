"""The gateway's pipeline against the real ``mcp-server-time`` (PyPI), started over stdio."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from plinth.capabilities.audit import service as audit
from plinth.capabilities.identity.schemas import Actor
from plinth.orchestration.mcp_gateway import META_KEY, Gateway, GatewaySettings, ToolRefused
from tests.orchestration.conftest import World
from tests.orchestration.mcp_gateway.support import (
    TIME_SERVER,
    audit_records,
    child_pids,
    make_gateway,
    register_agent,
    register_server,
)

Scenario = Callable[[Gateway, Actor], Awaitable[None]]


def _agent(world: World, name: str) -> Actor:
    return world.actor(name)


def _run(world: World, gateway: Gateway, agent: str, scenario: Scenario) -> None:
    async def main() -> None:
        async with gateway.running():
            await scenario(gateway, _agent(world, agent))

    before = set(child_pids())
    anyio.run(main)
    assert set(child_pids()) <= before  # the stdio server was ended


def _text(result: dict[str, Any]) -> str:
    return " ".join(c.get("text", "") for c in result["content"])


@pytest.fixture
def time_world(world: World) -> World:
    """The platform with ``mcp-server-time`` registered as the trusted server ``time``."""
    register_server(world.platform, "time", TIME_SERVER)
    register_agent(world.platform, "timekeeper", tools=["time/get_current_time"])
    return world


def test_lists_granted_tools_and_calls_one(time_world: World) -> None:
    gateway = make_gateway(time_world.platform)
    seen: dict[str, Any] = {}

    async def scenario(gw: Gateway, agent: Actor) -> None:
        seen["tools"] = [t.name for t in await gw.list_tools(agent)]
        seen["result"] = await gw.call_tool(agent, "time__get_current_time", {"timezone": "UTC"})

    _run(time_world, gateway, "timekeeper", scenario)
    assert seen["tools"] == ["time__get_current_time"]  # convert_time is not granted
    result = seen["result"]
    assert result["isError"] is False
    assert result["structuredContent"]["timezone"] == "UTC"
    [record] = audit_records(time_world.platform, "gateway.tool_call")
    assert record["actor"] == "timekeeper"
    assert record["subject"] == "tool/time/get_current_time"
    assert record["data"]["outcome"] == "ok"
    assert len(record["data"]["args_digest"]) == 64
    assert "UTC" not in str(record["data"])  # the arguments themselves are never recorded
    assert record["data"]["policies"]  # which Cedar policy allowed it
    with time_world.platform.db.read() as session:
        assert audit.verify(session).ok


def test_ungranted_and_unknown_tools_are_refused(time_world: World) -> None:
    gateway = make_gateway(time_world.platform)
    errors: list[str] = []

    async def scenario(gw: Gateway, agent: Actor) -> None:
        for name in ("time__convert_time", "time__no_such_tool", "nowhere__x", "no-separator"):
            with pytest.raises(ToolRefused) as caught:
                await gw.call_tool(agent, name, {})
            errors.append(caught.value.detail)

    _run(time_world, gateway, "timekeeper", scenario)
    assert all("unknown tool" in e for e in errors)
    records = audit_records(time_world.platform, "gateway.tool_call")
    assert [r["data"]["outcome"] for r in records] == ["refused"] * 4
    assert "not granted" in records[0]["data"]["reasons"][0]


def test_humans_see_no_tools(time_world: World) -> None:
    gateway = make_gateway(time_world.platform)
    seen: dict[str, Any] = {}

    async def scenario(gw: Gateway, human: Actor) -> None:
        seen["tools"] = await gw.list_tools(human)
        with pytest.raises(ToolRefused):
            await gw.call_tool(human, "time__get_current_time", {"timezone": "UTC"})

    _run(time_world, gateway, "ada", scenario)
    assert seen["tools"] == []


def test_rate_limit_budget_and_oversize_arguments(time_world: World) -> None:
    settings = GatewaySettings(
        rate_per_second=0.001, burst=3, calls_per_day=1, max_argument_bytes=1024
    )
    gateway = make_gateway(time_world.platform, settings=settings)
    results: list[dict[str, Any]] = []

    async def scenario(gw: Gateway, agent: Actor) -> None:
        name = "time__get_current_time"
        results.append(await gw.call_tool(agent, name, {"timezone": "x" * 2000}))
        results.append(await gw.call_tool(agent, name, {"timezone": "UTC"}))
        results.append(await gw.call_tool(agent, name, {"timezone": "UTC"}))
        results.append(await gw.call_tool(agent, name, {"timezone": "UTC"}))

    _run(time_world, gateway, "timekeeper", scenario)
    outcomes = [r.get("_meta", {}).get(META_KEY, {}).get("outcome", "ok") for r in results]
    assert outcomes == ["blocked", "ok", "over_budget", "rate_limited"]
    assert "over the limit of 1024 bytes" in _text(results[0])
    assert "daily budget of 1 tool calls" in _text(results[2])
    assert "rate limit" in _text(results[3])
    recorded = [
        r["data"]["outcome"] for r in audit_records(time_world.platform, "gateway.tool_call")
    ]
    assert recorded == ["blocked", "ok", "over_budget", "rate_limited"]


def test_daily_budget_survives_a_restart(time_world: World) -> None:
    settings = GatewaySettings(calls_per_day=1)
    outcomes: list[str] = []

    async def scenario(gw: Gateway, agent: Actor) -> None:
        result = await gw.call_tool(agent, "time__get_current_time", {"timezone": "UTC"})
        outcomes.append(result.get("_meta", {}).get(META_KEY, {}).get("outcome", "ok"))

    _run(time_world, make_gateway(time_world.platform, settings=settings), "timekeeper", scenario)
    _run(time_world, make_gateway(time_world.platform, settings=settings), "timekeeper", scenario)
    assert outcomes == ["ok", "over_budget"]
