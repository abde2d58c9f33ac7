"""The gateway's parts on their own: registry parsing, names, screens and limits."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from plinth.core.errors import InvalidInput, NotFound
from plinth.orchestration.mcp_gateway import (
    ScreenRegistry,
    ScreenResult,
    SizeShapeScreen,
    ToolRef,
    parse_mcp_server,
    qualified_name,
    split_name,
)
from plinth.orchestration.mcp_gateway.limits import DailyBudget, RateLimiter

TOOL = ToolRef("time", "get_current_time", "trusted", {})


def test_parses_stdio_and_http_servers() -> None:
    stdio = parse_mcp_server("time", {"command": ["python", "-m", "x"], "owner": "platform"})
    assert stdio.transport == "stdio" and stdio.trust == "untrusted"
    http = parse_mcp_server(
        "docs", {"url": "https://docs.example/mcp", "trust": "internal", "cost_per_call": "0.01"}
    )
    assert http.transport == "http" and http.cost_per_call == Decimal("0.01")


@pytest.mark.parametrize(
    ("name", "spec", "path"),
    [
        ("Bad_Name", {"url": "http://x"}, "$.metadata.name"),
        ("both", {"url": "http://x", "command": ["a"]}, "$.spec"),
        ("neither", {}, "$.spec"),
        ("cmd", {"command": "python -m x"}, "$.spec.command"),
        ("url", {"url": "ftp://x"}, "$.spec.url"),
        ("trust", {"url": "http://x", "trust": "sometimes"}, "$.spec.trust"),
        ("cost", {"url": "http://x", "cost_per_call": "-1"}, "$.spec.cost_per_call"),
    ],
)
def test_refuses_bad_servers_naming_the_path(name: str, spec: dict[str, object], path: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_mcp_server(name, spec)
    assert caught.value.extra["path"] == path


def test_virtual_tool_names() -> None:
    assert qualified_name("time", "get__odd") == "time__get__odd"
    assert split_name("time__get__odd") == ("time", "get__odd")
    with pytest.raises(NotFound):
        split_name("plain")


def test_size_shape_screen() -> None:
    screen = SizeShapeScreen(max_argument_bytes=100, max_result_bytes=100, max_depth=3)
    assert screen.screen_arguments(TOOL, {"a": "b"}).action == "allow"
    assert screen.screen_arguments(TOOL, {"a": "b" * 200}).action == "block"
    assert screen.screen_arguments(TOOL, {"a": {"b": {"c": {"d": 1}}}}).action == "block"
    assert screen.screen_result(TOOL, {"content": ["x" * 200]}).action == "block"


class Redactor:
    """A screen that hides a ``password`` argument."""

    name = "redactor"

    def screen_arguments(self, tool: ToolRef, args: object) -> ScreenResult:
        assert isinstance(args, dict)
        if "password" in args:
            return ScreenResult("redact", ("password hidden",), {**args, "password": "***"})
        return ScreenResult.allow()

    def screen_result(self, tool: ToolRef, result: object) -> ScreenResult:
        return ScreenResult.allow()


def test_registry_runs_screens_in_order() -> None:
    screens = ScreenRegistry.default(max_argument_bytes=1000)
    screens.add(Redactor())
    verdict, value = screens.arguments(TOOL, {"password": "hunter2"})
    assert verdict.action == "redact" and value == {"password": "***"}
    assert screens.names == ["size-shape", "content", "redactor"]
    verdict, _ = screens.arguments(TOOL, {"password": "x" * 2000})
    assert verdict.action == "block" and verdict.screen == "size-shape"


def test_token_bucket() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=1.0, burst=2, monotonic=lambda: now[0])
    assert [limiter.take("a"), limiter.take("a")] == [0.0, 0.0]
    assert limiter.take("a") == pytest.approx(1.0)
    assert limiter.take("b") == 0.0  # per agent
    now[0] += 1.0
    assert limiter.take("a") == 0.0


def test_daily_budget_counts_calls_and_cost() -> None:
    budget = DailyBudget(calls_per_day=3, cost_per_day=Decimal("1.00"))
    day = date(2026, 11, 28)
    assert budget.charge("a", day, Decimal("0.60")) == ""
    assert "would be exceeded" in budget.charge("a", day, Decimal("0.60"))
    assert budget.charge("a", day, Decimal("0")) == ""
    assert budget.charge("a", day, Decimal("0")) == ""
    assert "3 tool calls" in budget.charge("a", day, Decimal("0"))
    assert budget.charge("a", date(2026, 11, 29), Decimal("0")) == ""
