"""The MCP server for real: the official SDK client over HTTP (both protocol revisions) and stdio.

The control plane's FastAPI app (with ``/mcp`` mounted) is served by uvicorn on
loopback in this process, around a real platform on SQLite with the fake
provider (nothing is started). The agent is registered and gets a signed token
for the audience ``plinth-mcp``, as a real agent would.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types import CallToolResult
from tests.fakes.provider import registry_with_fake
from tests.support import free_port

from plinth.capabilities.agents import service as agents
from plinth.capabilities.identity.schemas import Actor
from plinth.core.config import Settings
from plinth.experience.api.app import create_app
from plinth.experience.mcp import MCP_AUDIENCE, mcp_app, mount
from plinth.orchestration.platform import Platform

LEGACY = "legacy"
MODERN = "2026-07-28"
AGENT = "deployer"
AGENT_SPEC: dict[str, Any] = {
    "team": "payments",
    "purpose": "deploys the checkout services to dev",
    "identity": {"audiences": ["plinth-mcp", "plinth-api"]},
    "capability": {"actions": ["read", "plan", "apply"]},
    "execution": {"environments": ["dev"]},
    "autonomy": {"actions": ["create", "update"], "environments": ["dev"]},
}
WORKLOAD = """\
apiVersion: score.dev/v1b1
metadata: {name: hello}
containers:
  main:
    image: python:3.11-slim
    command: ["python", "-m", "http.server", "8080"]
service:
  ports:
    web: {port: 8080}
"""
TOOLS = {
    "list_templates",
    "describe_template",
    "plan",
    "apply",
    "get_status",
    "get_logs",
    "get_plan_cost",
    "list_my_approvals",
    "get_approval",
}
READ_TOOLS = TOOLS - {"plan", "apply"}


class _AudiencePlatform(Platform):
    """``Platform.authenticate`` with the ``audience`` keyword, until the platform has it."""

    def authenticate(self, token: str | None, *, audience: str = "plinth-api") -> Actor:
        if token and agents.looks_like_jwt(token):
            with self.db.read() as session:
                return agents.authenticate_agent(
                    session, token, audience=audience, box=self.box, clock=self.clock
                )
        return super().authenticate(token)


PLATFORM_HAS_AUDIENCE = "audience" in inspect.signature(Platform.authenticate).parameters


@dataclass
class Served:
    """A control plane with ``/mcp`` on loopback, and an agent's tokens."""

    url: str
    platform: Platform
    data_dir: Path
    humans: dict[str, str]
    token: str
    api_token: str

    @property
    def mcp(self) -> str:
        """The MCP endpoint."""
        return self.url + "/mcp"


def issue(platform: Platform, audience: str) -> str:
    """Return a fresh token of the test agent for ``audience``."""
    with platform.db.transaction() as session:
        return agents.issue_agent_token(
            session,
            agent=AGENT,
            audience=audience,
            ttl_seconds=None,
            scopes=(),
            box=platform.box,
            ids=platform.ids,
            clock=platform.clock,
        ).token


def web_app(platform: Platform) -> Any:
    """Return the control plane's app with ``/mcp`` mounted (by the app, or here until it is)."""
    app = create_app(platform)
    if not any(getattr(route, "path", None) == "/mcp" for route in app.routes):
        mount(app, mcp_app(platform))
    return app


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A seeded platform on SQLite with a registered agent, served on loopback."""
    data_dir = tmp_path_factory.mktemp("mcp")
    port = free_port()
    settings = Settings(data_dir=data_dir, port=port)
    registry, _ = registry_with_fake()
    kind = Platform if PLATFORM_HAS_AUDIENCE else _AudiencePlatform
    platform = kind(settings, registry=registry)
    humans = platform.prepare()
    with platform.db.transaction() as session:
        agents.upsert_agent(
            session,
            name=AGENT,
            spec=AGENT_SPEC,
            box=platform.box,
            ids=platform.ids,
            clock=platform.clock,
        )
    server = uvicorn.Server(
        uvicorn.Config(
            web_app(platform), host="127.0.0.1", port=port, log_level="warning", access_log=False
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the control plane did not start"
        time.sleep(0.02)
    try:
        yield Served(
            url=f"http://127.0.0.1:{port}",
            platform=platform,
            data_dir=data_dir,
            humans=humans,
            token=issue(platform, MCP_AUDIENCE),
            api_token=issue(platform, "plinth-api"),
        )
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        platform.stop()


@asynccontextmanager
async def connect(served: Served, mode: str) -> AsyncIterator[Client]:
    """Connect the official client to ``/mcp`` as the agent, in one protocol mode."""
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {served.token}"})
    async with http, Client(streamable_http_client(served.mcp, http_client=http), mode=mode) as c:
        yield c


def structured(result: CallToolResult) -> dict[str, Any]:
    """Return a successful tool result's structured content."""
    assert not result.is_error, result.content
    content: dict[str, Any] | None = result.structured_content
    assert content is not None
    return content


@pytest.mark.parametrize("mode", [LEGACY, MODERN])
def test_tools_are_listed_with_truthful_annotations(served: Served, mode: str) -> None:
    async def run() -> None:
        async with connect(served, mode) as client:
            expected = "2025-11-25" if mode == LEGACY else MODERN
            assert client.protocol_version == expected
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert set(tools) == TOOLS
            for name in READ_TOOLS:
                hints = tools[name].annotations
                assert hints is not None and hints.read_only_hint and hints.idempotent_hint, name
                assert tools[name].output_schema is not None, name
            plan, apply = tools["plan"].annotations, tools["apply"].annotations
            assert plan is not None and apply is not None
            assert (plan.read_only_hint, plan.destructive_hint, plan.idempotent_hint) == (
                False,
                False,
                True,
            )
            assert (apply.read_only_hint, apply.destructive_hint, apply.idempotent_hint) == (
                False,
                True,
                False,
            )
            assert tools["plan"].input_schema["required"] == ["documents", "environment"]

    anyio.run(run)


@pytest.mark.parametrize("mode", [LEGACY, MODERN])
def test_an_agent_plans_applies_and_watches_a_workload_in_dev(served: Served, mode: str) -> None:
    name = f"hello-{mode.replace('-', '')}"
    documents = WORKLOAD.replace("name: hello", f"name: {name}")

    async def run() -> None:
        async with connect(served, mode) as client:
            templates = structured(await client.call_tool("list_templates", {}))["items"]
            assert "web-service" in {t["name"] for t in templates}
            described = structured(
                await client.call_tool("describe_template", {"name": "web-service"})
            )
            assert described["parameters_schema"] and "raw" not in described

            args = {"documents": documents, "environment": "dev", "project": "checkout"}
            plan = structured(await client.call_tool("plan", args))
            assert plan["outcome"] in ("allow", "warn"), plan["verdicts"]
            assert {(c["name"], c["action"]) for c in plan["changes"]} >= {(name, "create")}
            assert "cost" in plan and plan["verdicts"]
            cost = structured(await client.call_tool("get_plan_cost", {"digest": plan["digest"]}))
            assert cost["digest"] == plan["digest"] and cost["cost"] == plan["cost"]

            applied = structured(await client.call_tool("apply", {"digest": plan["digest"]}))
            assert applied["status"] == "applied", applied
            assert applied["decision"]["seq"] > 0

            for resource in served.platform.list_resources(
                environment="dev", project="checkout", limit=500, page_token=None
            ).items:
                served.platform.reconciler.reconcile(resource["id"])
            where = {"workload": name, "environment": "dev"}
            status = structured(await client.call_tool("get_status", where))
            assert status["phase"] == "running" and status["healthy"] is True
            assert status["name"] == name and status["resources"]
            logs = structured(await client.call_tool("get_logs", where | {"tail": 5}))
            assert isinstance(logs["lines"], list)
            polled = structured(await client.call_tool("get_approval", {"digest": plan["digest"]}))
            assert polled["status"] == "applied"

    anyio.run(run)


@pytest.mark.parametrize("mode", [LEGACY, MODERN])
def test_a_prod_change_waits_for_a_human(served: Served, mode: str) -> None:
    if "autonomy" not in served.platform.settings.gates:
        pytest.skip("the autonomy gate is not in the gate pipeline yet")
    documents = WORKLOAD.replace("name: hello", f"name: prod-{mode.replace('-', '')}")

    async def run() -> None:
        async with connect(served, mode) as client:
            args = {"documents": documents, "environment": "prod", "project": "checkout"}
            plan = structured(await client.call_tool("plan", args))
            outcome = structured(await client.call_tool("apply", {"digest": plan["digest"]}))
            assert outcome["status"] == "waiting_for_approval", outcome
            assert outcome["reasons"] and outcome["approval"]["digest"] == plan["digest"]
            mine = structured(await client.call_tool("list_my_approvals", {}))["items"]
            assert plan["digest"] in {item["digest"] for item in mine}
            polled = structured(await client.call_tool("get_approval", {"digest": plan["digest"]}))
            assert polled["status"] == "pending" and polled["reasons"]
            assert polled["team"] == "payments" and polled["expires_at"]

    anyio.run(run)


@pytest.mark.parametrize("mode", [LEGACY, MODERN])
def test_platform_errors_are_tool_errors_with_the_problem(served: Served, mode: str) -> None:
    async def run() -> None:
        async with connect(served, mode) as client:
            missing = await client.call_tool("describe_template", {"name": "no-such-template"})
            assert missing.is_error and missing.structured_content is not None
            assert missing.structured_content["type"].endswith("/not-found")
            assert "no-such-template" in missing.structured_content["detail"]

            bad = await client.call_tool(
                "plan", {"documents": "kind: [unclosed", "environment": "dev"}
            )
            assert bad.is_error and bad.structured_content is not None
            assert bad.structured_content["status"] == 422
            assert bad.structured_content["detail"]

            unknown = await client.call_tool("get_approval", {"digest": "0" * 64})
            assert unknown.is_error

            out_of_range = await client.call_tool(
                "get_logs", {"workload": "x", "environment": "dev", "tail": 0}
            )
            assert out_of_range.is_error

    anyio.run(run)


def _initialize(served: Served, headers: dict[str, str], body: Any = None) -> httpx.Response:
    message = body or {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"},
        },
    }
    sent = {"Accept": "application/json, text/event-stream", **headers}
    if isinstance(message, bytes):
        return httpx.post(
            served.mcp, content=message, headers=sent | {"Content-Type": "application/json"}
        )
    return httpx.post(served.mcp, json=message, headers=sent)


def test_requests_without_a_valid_agent_token_are_refused(served: Served) -> None:
    missing = _initialize(served, {})
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == f'Bearer realm="{MCP_AUDIENCE}"'
    assert "missing bearer token" in missing.json()["detail"]

    forged = _initialize(served, {"Authorization": "Bearer not-a-token"})
    assert forged.status_code == 401
    assert 'error="invalid_token"' in forged.headers["WWW-Authenticate"]

    # Humans use the API, CLI or portal: their opaque tokens are not agent tokens.
    human = _initialize(served, {"Authorization": f"Bearer {served.humans['ada']}"})
    assert human.status_code == 401
    assert "agent" in human.json()["detail"]

    wrong_audience = _initialize(served, {"Authorization": f"Bearer {served.api_token}"})
    assert wrong_audience.status_code == 401
    assert "plinth-mcp" in wrong_audience.json()["detail"]


def test_browser_origins_other_than_the_servers_own_are_refused(served: Served) -> None:
    agent = {"Authorization": f"Bearer {served.token}"}
    evil = _initialize(served, agent | {"Origin": "http://evil.example"})
    assert evil.status_code == 403
    assert "evil.example" in evil.json()["detail"]
    # Refused before authentication: a page learns nothing about tokens.
    assert _initialize(served, {"Origin": "http://evil.example"}).status_code == 403

    own = _initialize(served, agent | {"Origin": served.url})
    assert own.status_code == 200, own.text
    assert own.headers.get("mcp-session-id")


def test_malformed_json_rpc_gets_a_clear_error(served: Served) -> None:
    agent = {"Authorization": f"Bearer {served.token}"}
    broken = _initialize(served, agent, b"{not json")
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == -32700  # parse error

    not_rpc = _initialize(served, agent, {"hello": "world"})
    assert not_rpc.status_code == 400
    assert not_rpc.json()["error"]["message"]

    too_big = _initialize(served, agent, b"[" + b" " * (2 * 1024 * 1024) + b"]")
    assert too_big.status_code == 413


def _stdio_command(data_dir: Path) -> list[str]:
    from plinth.experience.cli.main import app

    args = ["serve", "--stdio", "--data-dir", str(data_dir)]
    if any(group.name == "mcp" for group in app.registered_groups):
        return ["-m", "plinth.experience.cli.main", "mcp", *args]
    code = "import sys; from plinth.experience.cli.mcp import mcp_cli; mcp_cli(sys.argv[1:])"
    return ["-c", code, *args]


needs_platform_audience = pytest.mark.skipif(
    not PLATFORM_HAS_AUDIENCE,
    reason="Platform.authenticate(token, audience=...) is not in the platform yet",
)


@needs_platform_audience
def test_stdio_serves_the_same_tools_as_the_agent(served: Served) -> None:
    env = {**os.environ, "PLINTH_TOKEN": served.token}
    env.pop("PLINTH_CONFIG", None)
    params = StdioServerParameters(
        command=sys.executable, args=_stdio_command(served.data_dir), env=env
    )

    async def run() -> None:
        async with Client(params, mode=LEGACY) as client:
            assert {t.name for t in (await client.list_tools()).tools} == TOOLS
            templates = structured(await client.call_tool("list_templates", {}))["items"]
            assert "web-service" in {t["name"] for t in templates}
            args = {"documents": WORKLOAD, "environment": "dev", "project": "checkout"}
            plan = structured(await client.call_tool("plan", args))
            assert plan["digest"]
            assert served.platform.get_plan(plan["digest"])["actor"] == AGENT

    anyio.run(run)


@needs_platform_audience
def test_stdio_refuses_a_human_token_before_serving(served: Served) -> None:
    env = {**os.environ, "PLINTH_TOKEN": served.humans["ada"]}
    env.pop("PLINTH_CONFIG", None)
    done = subprocess.run(
        [sys.executable, *_stdio_command(served.data_dir)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert b"agent" in done.stderr
    assert done.stdout == b""
