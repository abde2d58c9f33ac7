"""The gateway's call pipeline: one virtual MCP server over many upstream servers.

For an agent, ``list_tools`` shows the upstream tools its spec grants
(``capability.tools`` globs over ``server/tool``) and Cedar allows or allows with an
approval; each is named ``<server>__<tool>``. ``call_tool`` runs, in order:

1. resolve the agent (a registered, enabled agent; anyone else sees no tools);
2. rate limit (token bucket per agent);
3. resolve the tool (unknown or not granted -> ``ToolRefused``, as if it did not exist);
4. screen the arguments (size and shape, then any registered screens);
5. authorize with Cedar (tool annotations, server trust tier, grant);
6. ``needs_approval`` -> the call is held until a human approves that exact call;
7. daily budget (calls, and cost when the server has a ``cost_per_call``);
8. call upstream with the server's own credentials, never the agent's token;
9. screen the result;
10. one audit record (actor, tool, argument digest - never the arguments - outcome,
    reasons, latency), appended asynchronously in order by the ``AuditWriter``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Any, Protocol

import anyio
import anyio.to_thread
import mcp_types as types

from plinth.capabilities.authz import AuthzDecision, AuthzRequest, tool_request
from plinth.capabilities.identity.schemas import Actor
from plinth.core.clock import Clock
from plinth.core.digest import canonical_json
from plinth.core.errors import InvalidInput, NotFound
from plinth.core.ids import IdFactory
from plinth.infrastructure.store.db import Database
from plinth.orchestration.mcp_gateway import approvals
from plinth.orchestration.mcp_gateway.audit_writer import AuditWriter, record_job
from plinth.orchestration.mcp_gateway.catalog import AgentGrant, Catalog
from plinth.orchestration.mcp_gateway.limits import DailyBudget, RateLimiter, Spend, usage_job
from plinth.orchestration.mcp_gateway.models import GatewayUsage
from plinth.orchestration.mcp_gateway.registry import (
    UpstreamDefinition,
    qualified_name,
    split_name,
)
from plinth.orchestration.mcp_gateway.screens import ScreenRegistry, ToolRef
from plinth.orchestration.mcp_gateway.upstreams import (
    CredentialSource,
    EnvironmentCredentials,
    ToolInfo,
    UpstreamPool,
    UpstreamUnavailable,
)

__all__ = ["META_KEY", "Gateway", "GatewaySettings", "ToolAuthorizer", "ToolRefused"]

META_KEY = "plinth.dev/gateway"


@dataclass(frozen=True)
class GatewaySettings:
    """Limits and timings of the gateway (per agent unless said otherwise)."""

    rate_per_second: float = 20.0
    burst: int = 40
    calls_per_day: int | None = 10000
    cost_per_day: Decimal | None = None
    max_argument_bytes: int = 65536
    max_result_bytes: int = 1048576
    catalog_ttl_s: float = 2.0
    connect_timeout_s: float = 30.0
    call_timeout_s: float = 60.0
    restart_backoff_s: float = 1.0
    max_pending_audit: int = 10000


class ToolAuthorizer(Protocol):
    """The Cedar authorizer, as the gateway uses it."""

    def decide(self, request: AuthzRequest) -> AuthzDecision:
        """Return the decision on one request."""
        ...


class ToolRefused(InvalidInput):
    """No such tool for this agent (unknown, or not granted): a JSON-RPC invalid-params error."""

    type = "tool-refused"


@dataclass
class _Call:
    actor: Actor
    name: str
    started: float
    at: datetime
    key: str = ""
    digest: str = ""
    size: int = 0
    facts: dict[str, Any] = field(default_factory=dict)


def _error(text: str, **meta: Any) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": True, "_meta": {META_KEY: meta}}


class Gateway:
    """The virtual MCP server's logic, independent of any transport."""

    def __init__(
        self,
        db: Database,
        *,
        authorizer: Callable[[], ToolAuthorizer],
        clock: Clock,
        ids: IdFactory,
        settings: GatewaySettings | None = None,
        credentials: CredentialSource | None = None,
        screens: ScreenRegistry | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db, self.clock, self.ids = db, clock, ids
        self.authorizer = authorizer
        self.settings = s = settings or GatewaySettings()
        self.catalog = Catalog(db, ttl_s=s.catalog_ttl_s, monotonic=monotonic)
        self.pool = UpstreamPool(
            credentials=credentials or EnvironmentCredentials(),
            connect_timeout_s=s.connect_timeout_s,
            call_timeout_s=s.call_timeout_s,
            restart_backoff_s=s.restart_backoff_s,
            monotonic=monotonic,
        )
        self.screens = screens or ScreenRegistry.default(max_argument_bytes=s.max_argument_bytes)
        self.rate = RateLimiter(rate=s.rate_per_second, burst=s.burst, monotonic=monotonic)
        self.budget = DailyBudget(calls_per_day=s.calls_per_day, cost_per_day=s.cost_per_day)
        self.writer = AuditWriter(db, max_pending=s.max_pending_audit)
        self._perf = time.perf_counter

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Gateway]:
        """Run the audit writer and the upstream pool; on exit, close both (nothing is lost)."""
        self.writer.start()
        try:
            async with self.pool.running():
                yield self
        finally:
            self.writer.close()

    def invalidate(self) -> None:
        """Forget cached upstreams and agent grants (after McpServer or Agent changes)."""
        self.catalog.invalidate()

    async def _upstreams(self) -> Mapping[str, UpstreamDefinition]:
        found = self.catalog.cached_upstreams()
        if found is None:
            found = await anyio.to_thread.run_sync(self.catalog.upstreams)
            await self.pool.forget(found)
        return found

    async def _agent(self, actor: Actor) -> AgentGrant | None:
        if actor.kind != "agent":
            return None
        known, grant = self.catalog.cached_agent(actor)
        if known:
            return grant
        return await anyio.to_thread.run_sync(self.catalog.agent, actor)

    def _decide(self, actor: Actor, info: ToolInfo, defn: UpstreamDefinition) -> AuthzDecision:
        request = tool_request(
            actor,
            server=info.server,
            tool=info.name,
            trust=defn.trust,
            annotations=info.annotations,
            granted=True,  # only granted tools get here
            now=self.clock.now(),
        )
        return self.authorizer().decide(request)

    # -- tools/list -------------------------------------------------------------------

    async def list_tools(self, actor: Actor) -> list[types.Tool]:
        """Return the tools this agent may call (or call after an approval)."""
        grant = await self._agent(actor)
        if grant is None:
            return []
        servers = [
            d
            for d in (await self._upstreams()).values()
            if any(fnmatchcase(d.name, p.partition("/")[0]) for p in grant.tools)
        ]
        listed: dict[str, Mapping[str, ToolInfo]] = {}

        async def fetch(defn: UpstreamDefinition) -> None:
            try:
                listed[defn.name] = await self.pool.tools(defn)
            except UpstreamUnavailable:
                return  # an unavailable server shows no tools; a call explains why

        async with anyio.create_task_group() as group:
            for defn in servers:
                group.start_soon(fetch, defn)
        tools: list[types.Tool] = []
        for defn in servers:
            for info in listed.get(defn.name, {}).values():
                if not grant.grants(f"{defn.name}/{info.name}"):
                    continue
                if self._decide(actor, info, defn).outcome == "deny":
                    continue
                tools.append(
                    info.tool.model_copy(update={"name": qualified_name(defn.name, info.name)})
                )
        return tools

    def tool_input_schema(self, name: str) -> Mapping[str, Any] | None:
        """Return the input schema of a virtual tool from the cached lists (None if unknown)."""
        try:
            server, tool = split_name(name)
        except NotFound:
            return None
        info = self.pool.cached_tool(server, tool)
        return info.tool.input_schema if info is not None else None

    # -- tools/call -------------------------------------------------------------------

    async def call_tool(
        self, actor: Actor, name: str, arguments: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """Run one call through the pipeline; return the result in its JSON wire form."""
        call = _Call(actor=actor, name=name, started=self._perf(), at=self.clock.now())
        args: Any = {} if arguments is None else arguments
        text = canonical_json(args)
        call.digest = hashlib.sha256(text.encode()).hexdigest()
        call.size = len(text.encode())
        grant = await self._agent(actor)
        if grant is None:
            self._record(call, "refused", ["only registered, enabled agents call gateway tools"])
            raise ToolRefused(f"unknown tool {name!r}: {actor.name} is not a registered agent")
        wait = self.rate.take(grant.name)
        if wait > 0:
            why = f"rate limit of {self.settings.rate_per_second}/s exceeded; retry in {wait:.2f}s"
            self._record(call, "rate_limited", [why])
            return _error(why, outcome="rate_limited", retry_after=round(wait, 3))
        try:
            defn, info = await self._resolve(call, grant)
        except UpstreamUnavailable as exc:
            return _error(exc.detail, outcome="unavailable")
        return await self._authorized(call, grant, defn, info, args)

    async def _resolve(self, call: _Call, grant: AgentGrant) -> tuple[UpstreamDefinition, ToolInfo]:
        try:
            server, tool = split_name(call.name)
        except NotFound as exc:
            self._record(call, "refused", [exc.detail])
            raise ToolRefused(exc.detail) from None
        call.key = f"{server}/{tool}"
        defn = (await self._upstreams()).get(server)
        if defn is None or not grant.grants(call.key):
            why = (
                "no such server" if defn is None else "not granted by the agent's capability.tools"
            )
            self._record(call, "refused", [f"tool {call.key}: {why}"])
            raise ToolRefused(f"unknown tool {call.name!r}")
        try:
            tools = await self.pool.tools(defn)
        except UpstreamUnavailable as exc:
            self._record(call, "unavailable", [exc.detail])
            raise
        info = tools.get(tool)
        if info is None:
            self._record(call, "refused", [f"server {server} has no tool {tool!r}"])
            raise ToolRefused(f"unknown tool {call.name!r}")
        return defn, info

    async def _authorized(
        self,
        call: _Call,
        grant: AgentGrant,
        defn: UpstreamDefinition,
        info: ToolInfo,
        args: Any,
    ) -> dict[str, Any]:
        ref = ToolRef(defn.name, info.name, defn.trust, info.annotations)
        verdict, args = self.screens.arguments(ref, args)
        if verdict.action == "block":
            why = list(verdict.reasons)
            self._record(call, "blocked", why, screen=verdict.screen)
            return _error("refused: " + "; ".join(why), outcome="blocked", screen=verdict.screen)
        decision = self._decide(call.actor, info, defn)
        call.facts["policies"] = list(decision.policies)
        if decision.outcome == "deny":
            self._record(call, "denied", list(decision.reasons))
            return _error("denied: " + "; ".join(decision.reasons), outcome="denied")
        if decision.outcome != "allow":
            held = await self._hold(call, grant, decision)
            if held is not None:
                return held
        refusal = await self._charge(grant.name, defn.cost_per_call)
        if refusal:
            self._record(call, "over_budget", [refusal])
            return _error(refusal, outcome="over_budget")
        return await self._forward(call, grant, defn, ref, args, list(decision.reasons))

    async def _hold(
        self, call: _Call, grant: AgentGrant, decision: AuthzDecision
    ) -> dict[str, Any] | None:
        reasons = list(decision.reasons)

        def hold() -> tuple[str, str, datetime]:
            with self.db.transaction() as session:
                status, row = approvals.hold(
                    session,
                    agent=grant.name,
                    team=grant.team,
                    tool=call.key,
                    args_digest=call.digest,
                    reasons=reasons,
                    ttl_seconds=grant.approval_ttl_seconds,
                    ids=self.ids,
                    clock=self.clock,
                )
                return status, row.id, row.expires_at

        status, approval_id, expires = await anyio.to_thread.run_sync(hold)
        call.facts["approval"] = approval_id
        if status == "approved":
            return None
        self._record(call, "needs_approval", reasons)
        text = (
            f"waiting for approval {approval_id}: {'; '.join(reasons)}. After a human approves "
            "it, repeat this call with the same arguments (it passes once)."
        )
        return _error(
            text, outcome="needs_approval", approval=approval_id, expires_at=expires.isoformat()
        )

    async def _charge(self, agent: str, cost: Decimal) -> str:
        day = self.clock.now().date()
        if not self.budget.known(agent, day):
            spend = await anyio.to_thread.run_sync(self._spent, agent, day)
            self.budget.load(agent, day, spend)
        refusal = self.budget.charge(agent, day, cost)
        if not refusal:
            self.writer.submit(usage_job(agent, day, cost))
        return refusal

    def _spent(self, agent: str, day: date) -> Spend:
        with self.db.read() as session:
            row = session.get(GatewayUsage, (agent, day))
            return Spend(row.calls, row.cost) if row is not None else Spend()

    async def _forward(
        self,
        call: _Call,
        grant: AgentGrant,
        defn: UpstreamDefinition,
        ref: ToolRef,
        args: Any,
        reasons: list[str],
    ) -> dict[str, Any]:
        try:
            result = await self.pool.call(defn, ref.name, args)
        except UpstreamUnavailable as exc:
            self._record(call, "unavailable", [exc.detail])
            return _error(exc.detail, outcome="unavailable")
        except Exception as exc:  # the upstream answered with a protocol error
            self._record(call, "upstream_error", [f"upstream error: {exc}"])
            return _error(f"upstream error: {exc}", outcome="upstream_error")
        wire = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        verdict, wire = self.screens.result(ref, wire)
        if verdict.action == "block":
            why = list(verdict.reasons)
            self._record(call, "blocked", why, screen=verdict.screen, stage="result")
            return _error("result withheld: " + "; ".join(why), outcome="blocked")
        outcome = "error" if wire.get("isError") else "ok"
        self._record(call, outcome, reasons, redacted=list(verdict.reasons) or None)
        return dict(wire)

    # -- audit ------------------------------------------------------------------------

    def _record(self, call: _Call, outcome: str, reasons: list[str], **extra: Any) -> None:
        latency_ms = round((self._perf() - call.started) * 1000, 3)
        data: dict[str, Any] = {
            "tool": call.key or call.name,
            "args_digest": call.digest,
            "args_bytes": call.size,
            "outcome": outcome,
            "reasons": reasons,
            "latency_ms": latency_ms,
            **call.facts,
        }
        data.update({k: v for k, v in extra.items() if v is not None})
        self.writer.submit(
            record_job(
                at=call.at,
                actor=call.actor.name,
                action="gateway.tool_call",
                subject=f"tool/{call.key or call.name}",
                data=data,
            )
        )

    def record_rejection(self, *, actor: str, reason: str, **data: Any) -> None:
        """Record a request refused before it reached a tool (bad token, malformed JSON-RPC)."""
        self.writer.submit(
            record_job(
                at=self.clock.now(),
                actor=actor or "anonymous",
                action="gateway.rejected",
                subject="gateway/mcp",
                data={"reason": reason, **data},
            )
        )

    # -- approvals (called by the API and the CLI through the platform) ---------------

    def review(
        self, approver: Actor, approval_id: str, *, approve: bool, reason: str
    ) -> dict[str, Any]:
        """Approve or deny a held tool call."""
        with self.db.transaction() as session:
            row = approvals.decide(
                session,
                approval_id,
                approver=approver,
                approve=approve,
                reason=reason,
                clock=self.clock,
            )
            return approvals.approval_as_dict(row, self.clock)

    def held_calls(
        self, *, status: str | None, agent: str | None, limit: int, page_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Return a page of held tool calls and the next page's token."""
        with self.db.read() as session:
            page = approvals.list_approvals(
                session, status=status, agent=agent, limit=limit, page_token=page_token
            )
            return [
                approvals.approval_as_dict(r, self.clock) for r in page.items
            ], page.next_page_token
