"""The platform's API as MCP tools, served over Streamable HTTP at ``/mcp`` and over stdio.

A thin adapter like the REST API: each tool parses its arguments, calls one
``Platform`` method as the authenticated agent (see ``auth.py``), and maps
Plinth errors to MCP tool errors carrying the problem document. Plans and
applies are audited by the platform itself; reads are not.

One endpoint serves both protocol revisions: a client of 2025-11-25 opens a
session with ``initialize`` (``Mcp-Session-Id``), a client of 2026-07-28 sends
self-contained requests with ``MCP-Protocol-Version: 2026-07-28``; the SDK's
session manager routes each request by that header.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal, ParamSpec, TypedDict, TypeVar, cast

import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field
from pydantic_core import to_jsonable_python
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from plinth import __version__
from plinth.capabilities.identity.schemas import Actor
from plinth.core.errors import GateDenied, NotFound, PlinthError
from plinth.experience.api.problems import PROBLEM_BASE, problem
from plinth.experience.mcp.auth import McpAuth, current_actor, own_origins, platform_authenticator
from plinth.orchestration.mcp_gateway.token_cache import TokenCache
from plinth.orchestration.plans import PlanRequest
from plinth.orchestration.platform import Platform

__all__ = ["McpEndpoint", "build_server", "mcp_app", "mount"]

P = ParamSpec("P")
R = TypeVar("R")

READ = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
PLAN = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
APPLY = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False
)
INSTRUCTIONS = (
    "Plinth control plane. To change something: plan (YAML documents, an environment) -> read "
    "the verdicts and cost -> apply the digest. apply returns applied, waiting_for_approval (a "
    "human of the owning team decides; poll get_approval) or denied (with reasons)."
)

Environment = Annotated[str, Field(description="Environment name, e.g. dev, staging or prod.")]
Project = Annotated[
    str | None, Field(description="Project name; needed when the environment has several.")
]
Digest = Annotated[str, Field(description="A plan digest returned by plan.", min_length=1)]


class TemplateList(TypedDict):
    """The templates of the catalog."""

    items: list[dict[str, Any]]


class PlanSummary(TypedDict):
    """A stored plan: its changes, gate verdicts and cost; apply it by digest."""

    digest: str
    status: str
    outcome: str
    environment: str
    project: str | None
    changes: list[dict[str, Any]]
    verdicts: list[dict[str, Any]]
    cost: dict[str, Any]
    conflicts: list[dict[str, Any]]


class ApplyOutcome(TypedDict):
    """What applying a plan did: applied, waiting_for_approval or denied."""

    status: Literal["applied", "waiting_for_approval", "denied"]
    digest: str
    reasons: list[str]
    approval: dict[str, Any] | None
    decision: dict[str, Any] | None


class LogLines(TypedDict):
    """The last lines of a workload's logs."""

    lines: list[str]


class Items(TypedDict):
    """A list of objects."""

    items: list[dict[str, Any]]


def _problem_result(exc: PlinthError) -> CallToolResult:
    """Return a Plinth error as an MCP tool error with its problem document."""
    body = {
        "type": PROBLEM_BASE + exc.type,
        "title": exc.title,
        "status": exc.status,
        "detail": exc.detail,
        **to_jsonable_python(exc.extra),
    }
    return CallToolResult(
        content=[TextContent(type="text", text=f"{exc.title}: {exc.detail}")],
        structured_content=body,
        is_error=True,
    )


def _tool_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Turn Plinth errors raised by a tool into tool errors (the signature stays the tool's)."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except PlinthError as exc:
            return cast(R, _problem_result(exc))

    return wrapper


def _json(data: Any) -> Any:
    return to_jsonable_python(data)


def build_server(platform: Platform) -> MCPServer:
    """Return the MCP server whose tools call ``platform`` as the current agent."""
    # WARNING, not the SDK's INFO: at INFO its HTTP client logs every upstream request
    # (the SDK configures the root logger once, process-wide).
    server: MCPServer = MCPServer(
        "plinth",
        title="Plinth",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level="WARNING",
    )

    async def call(fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> R:
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))

    async def me() -> Actor:
        # In a worker thread: over stdio, resolving the actor reads the store.
        return await anyio.to_thread.run_sync(current_actor)

    async def own_plan(digest: str) -> dict[str, Any]:
        actor = await me()
        plan = await call(platform.get_plan, digest)
        if plan["actor"] != actor.name:
            raise NotFound(f"no plan {digest!r} made by {actor.name}")
        return plan

    @server.tool(annotations=READ)
    @_tool_errors
    async def list_templates() -> TemplateList:
        """List the golden-path templates with their versions and descriptions."""
        await me()
        return {"items": _json(await call(platform.templates))}

    @server.tool(annotations=READ)
    @_tool_errors
    async def describe_template(
        name: Annotated[str, Field(description="Template name, e.g. web-service.")],
        version: Annotated[str | None, Field(description="Version; the newest if omitted.")] = None,
    ) -> dict[str, Any]:
        """Describe one template version: its parameters (JSON Schema), bounds and workloads."""
        await me()
        template = await call(platform.template, name, version)
        template.pop("raw", None)
        return cast(dict[str, Any], _json(template))

    @server.tool(annotations=PLAN)
    @_tool_errors
    async def plan(
        documents: Annotated[str, Field(description="YAML text; several documents allowed.")],
        environment: Environment,
        project: Project = None,
        upgrade: Annotated[bool, Field(description="Upgrade applications' templates.")] = False,
    ) -> PlanSummary:
        """Plan a change (nothing is applied): the diff, every gate's verdict and the cost."""
        request = PlanRequest(
            environment=environment,
            project=project,
            documents=documents,
            file="mcp",
            upgrade=upgrade,
        )
        return _summary(await call(platform.plan, await me(), request))

    @server.tool(annotations=APPLY)
    @_tool_errors
    async def apply(digest: Digest) -> ApplyOutcome:
        """Apply a plan made by you: applied, waiting_for_approval, or denied with reasons."""
        actor = await me()
        await own_plan(digest)
        try:
            result = await call(platform.apply, actor, digest)
        except GateDenied as exc:
            verdicts = exc.extra.get("verdicts", [])
            why = [r for v in verdicts if v.get("verdict") == "deny" for r in v["reasons"]]
            return _outcome("denied", digest, why or [exc.detail])
        plan_data = result["plan"]
        if result["status"] == "applied":
            return _outcome("applied", digest, [], decision=result.get("decision"))
        return _outcome(
            "waiting_for_approval",
            digest,
            _reasons(plan_data, "needs_approval"),
            approval=_approval(plan_data, await call(platform.approval, digest)),
            decision=result.get("decision"),
        )

    @server.tool(annotations=READ)
    @_tool_errors
    async def get_status(
        workload: Annotated[str, Field(description="Workload name.")],
        environment: Environment,
        project: Project = None,
    ) -> dict[str, Any]:
        """Return a workload's phase, health and resources (secrets redacted)."""
        await me()
        detail = await call(platform.workload, workload, environment=environment, project=project)
        detail.pop("document", None)
        return cast(dict[str, Any], _json(detail))

    @server.tool(annotations=READ)
    @_tool_errors
    async def get_logs(
        workload: Annotated[str, Field(description="Workload name.")],
        environment: Environment,
        project: Project = None,
        tail: Annotated[int, Field(ge=1, le=2000, description="How many lines.")] = 200,
    ) -> LogLines:
        """Return the last lines of a workload's logs."""
        await me()
        lines = await call(
            platform.logs, workload, environment=environment, project=project, tail=tail
        )
        return {"lines": lines}

    @server.tool(annotations=READ)
    @_tool_errors
    async def get_plan_cost(digest: Digest) -> dict[str, Any]:
        """Return the cost estimate of a plan you made: the total and each change's cost."""
        data = await own_plan(digest)
        changes = [
            {k: c.get(k) for k in ("kind", "type", "name", "action", "cost", "cost_before")}
            for c in data["changes"]
        ]
        return cast(
            dict[str, Any], _json({"digest": digest, "cost": data["cost"], "changes": changes})
        )

    @server.tool(annotations=READ)
    @_tool_errors
    async def list_my_approvals(
        status: Literal["pending", "approved", "rejected", "expired", "applied", "all"] = "pending",
    ) -> Items:
        """List your approval requests by status (pending by default), with their expiry."""
        actor = await me()
        items: list[dict[str, Any]] = []
        page_token: str | None = None
        while True:
            page = await call(
                platform.approvals,
                status=status,
                limit=500,
                page_token=page_token,
                actor=actor,
                mine=True,
            )
            items.extend(page.items)
            page_token = page.next_page_token
            if page_token is None:
                return {"items": _json(items)}

    @server.tool(annotations=READ)
    @_tool_errors
    async def get_approval(
        digest: Digest,
        wait_seconds: Annotated[
            float,
            Field(ge=0, le=25, description="Wait up to this long for a human's decision."),
        ] = 0,
    ) -> dict[str, Any]:
        """Poll (or wait on) the approval request of a plan you made: status, routing, expiry."""
        await own_plan(digest)
        request = await call(platform.approval, digest, wait=wait_seconds)
        return _approval(await own_plan(digest), request)

    return server


def _reasons(plan: dict[str, Any], verdict: str) -> list[str]:
    return [r for v in plan.get("verdicts", []) if v["verdict"] == verdict for r in v["reasons"]]


def _approval(plan: dict[str, Any], request: dict[str, Any] | None) -> dict[str, Any]:
    """Return the approval state of a plan (plus the approval request, when there is one)."""
    state = {
        "digest": plan["digest"],
        "status": plan["status"],
        "environment": plan["environment"],
        "project": plan["project"],
        "reasons": _reasons(plan, "needs_approval"),
        "approvals": plan.get("approvals", []),
    }
    return cast(dict[str, Any], _json(state | (request or {})))


def _outcome(
    status: Literal["applied", "waiting_for_approval", "denied"],
    digest: str,
    reasons: list[str],
    *,
    approval: dict[str, Any] | None = None,
    decision: dict[str, Any] | None = None,
) -> ApplyOutcome:
    return {
        "status": status,
        "digest": digest,
        "reasons": reasons,
        "approval": approval,
        "decision": _json(decision),
    }


def _summary(plan: dict[str, Any]) -> PlanSummary:
    keep = ("kind", "type", "name", "action", "reasons", "cost")
    return cast(
        PlanSummary,
        _json(
            {
                "digest": plan["digest"],
                "status": plan["status"],
                "outcome": plan["outcome"],
                "environment": plan["environment"],
                "project": plan["project"],
                "changes": [{k: c[k] for k in keep if k in c} for c in plan["changes"]],
                "verdicts": plan["verdicts"],
                "cost": plan.get("cost") or {},
                "conflicts": plan.get("conflicts", []),
            }
        ),
    )


class McpEndpoint:
    """The ``/mcp`` ASGI app: Origin and bearer checks in front of the SDK's session manager.

    Run it inside ``running()`` (the web app's lifespan); each run gets a fresh
    session manager, so the same endpoint can be served again after a restart.
    """

    def __init__(self, platform: Platform, *, allowed_origins: Sequence[str] | None = None) -> None:
        settings = platform.settings
        self.server = build_server(platform)
        self.max_body_bytes = settings.max_body_bytes
        origins = list(own_origins(settings.host, settings.port)) + list(allowed_origins or ())
        self.app = McpAuth(
            self._serve,
            authenticate=platform_authenticator(platform),
            allowed_origins=origins,
            cache=TokenCache(clock=platform.clock),
        )
        self._manager: StreamableHTTPSessionManager | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Serve sessions while the block runs; close them all at the end."""
        self.server.streamable_http_app(
            max_request_body_size=self.max_body_bytes,
            # Origin is checked by McpAuth; the control plane may answer to any host name.
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        manager = self.server.session_manager
        async with manager.run():
            self._manager = manager
            try:
                yield
            finally:
                self._manager = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI request."""
        await self.app(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        manager = self._manager
        if manager is None:
            response = problem(
                503, "unavailable", "MCP server not running", "the MCP server is not started"
            )
            await response(scope, receive, send)
            return
        await manager.handle_request(scope, receive, send)


def mcp_app(platform: Platform, *, allowed_origins: Sequence[str] | None = None) -> McpEndpoint:
    """Return the ``/mcp`` endpoint for ``platform`` (enter ``running()`` in the app's lifespan)."""
    return McpEndpoint(platform, allowed_origins=allowed_origins)


def mount(app: Starlette, endpoint: McpEndpoint, *, path: str = "/mcp") -> None:
    """Serve ``endpoint`` at ``path`` of ``app`` (exactly, no redirect) during its lifespan."""
    app.router.routes.append(Route(path, endpoint=endpoint, include_in_schema=False))
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(target: Any) -> AsyncIterator[Any]:
        async with endpoint.running(), inner(target) as state:
            yield state

    app.router.lifespan_context = lifespan
