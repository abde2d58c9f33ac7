"""The AI gateway's pipeline: who calls, which model, screens, budget, upstream, records.

For each request, in order:

1. **caller**: a virtual key (``plk-...``, per team or per agent) or an agent's JWT
   issued for the audience ``plinth-gateway`` (its team from the agent's spec);
2. **shape**: a malformed or oversize request is a 400 (OpenAI error format);
3. **model**: allowed by the team's ``LlmAccess`` (and the key's own subset) and served
   by an enabled ``LlmProvider``; an unsanctioned model is a 403 ``model_not_allowed``,
   recorded on the audit chain and counted (shadow AI shows up there);
4. **screens** on prompts and tool results (block: 400 ``content_blocked``; redaction
   upstream when the team asks for it);
5. **budget**: the request's maximum cost is held in the team's and the key's budgets
   (``Accountant``); a request that does not fit is a 429 ``insufficient_quota``;
6. **upstream** call (502 when it is down or answers 5xx);
7. **response** screens (redaction), then the hold is settled to the actual usage and
   one record goes to the writer (audit chain, ledger, spend, request row).

Streams (``streaming.py``) do 6-7 chunk by chunk and are metered once, also when cut.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Any

import anyio.to_thread

from plinth.capabilities.identity.schemas import Actor
from plinth.capabilities.screens import ScreenSet
from plinth.core.clock import Clock
from plinth.core.errors import PlinthError
from plinth.core.ids import IdFactory
from plinth.infrastructure.store.db import Database
from plinth.orchestration.llm_gateway.accountant import Accountant, BudgetExceeded, Hold, Limit
from plinth.orchestration.llm_gateway.config import Access, Catalog, ModelRoute, Served
from plinth.orchestration.llm_gateway.errors import LlmError, bad_request
from plinth.orchestration.llm_gateway.keys import KEY_PREFIX, KeyStore, period_of
from plinth.orchestration.llm_gateway.requests import (
    ChatRequest,
    EmbeddingsRequest,
    message_texts,
)
from plinth.orchestration.llm_gateway.screening import (
    Screening,
    load_screens,
    response_screens,
)
from plinth.orchestration.llm_gateway.upstream import Upstreams
from plinth.orchestration.llm_gateway.wire import Caller, Prepared, dumps, usage_of
from plinth.orchestration.llm_gateway.writer import Inference, LlmWriter
from plinth.orchestration.mcp_gateway.catalog import Catalog as AgentCatalog
from plinth.orchestration.mcp_gateway.token_cache import TokenCache

__all__ = ["Caller", "LlmGateway", "Prepared", "dumps", "prompt_redactions", "usage_of"]

Authenticate = Callable[[str], Actor]


def _unauthorized(message: str) -> LlmError:
    return LlmError(401, message, type="authentication_error", code="invalid_api_key")


class LlmGateway:
    """The OpenAI-compatible gateway's logic, independent of any transport."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock,
        ids: IdFactory,
        authenticate: Authenticate,
        screens: ScreenSet | None = None,
        load_default_screens: bool = True,
    ) -> None:
        self.db, self.clock, self.ids = db, clock, ids
        self.authenticate = authenticate
        self.catalog = Catalog(db)
        self.agents = AgentCatalog(db)
        self.keys = KeyStore(db, ids=ids, clock=clock)
        self.tokens = TokenCache(clock=clock)
        self.accountant = Accountant(db)
        if screens is None and load_default_screens:
            self.screening = Screening(load_screens(), response_screens())
        else:
            self.screening = Screening(screens)
        self.upstreams = Upstreams()
        self.writer = LlmWriter(db, on_committed=self._committed, now=clock.now)
        self.counters: Counter[str] = Counter()
        self._perf = time.perf_counter

    @asynccontextmanager
    async def running(self) -> AsyncIterator[LlmGateway]:
        """Run the writer and the upstream connections; on exit close both (nothing lost)."""
        self.writer.start()
        try:
            yield self
        finally:
            await self.upstreams.aclose()
            self.writer.close()

    def _committed(self, items: list[Inference]) -> None:
        for item in items:
            self.accountant.committed(item.scopes, item.cost)

    # -- who ---------------------------------------------------------------------------

    async def caller(self, token: str | None) -> Caller:
        """Resolve a bearer token to a caller, or raise a 401 LlmError."""
        if not token:
            raise _unauthorized("missing bearer token: use a Plinth LLM key (plk-...)")
        if token.startswith(KEY_PREFIX):
            known, key = self.keys.cached(token)
            if not known:
                key = await anyio.to_thread.run_sync(self.keys.resolve, token)
            if key is None:
                raise _unauthorized("unknown or revoked LLM key")
            return Caller(
                actor=key.agent or f"key/{key.name}", team=key.team, agent=key.agent, key=key
            )
        actor = self.tokens.get(token)
        if actor is None:
            generation = self.tokens.generation()
            try:
                actor = await anyio.to_thread.run_sync(self.authenticate, token)
            except PlinthError as exc:
                raise _unauthorized(exc.detail) from None
            if actor.kind != "agent" or actor.audience != "plinth-gateway":
                raise _unauthorized("agents use a token issued for the audience plinth-gateway")
            self.tokens.put(token, actor, checked_at_generation=generation)
        known, grant = self.agents.cached_agent(actor)
        if not known:
            grant = await anyio.to_thread.run_sync(self.agents.agent, actor)
        if grant is None:
            raise _unauthorized(f"{actor.name} is not a registered, enabled agent")
        return Caller(actor=actor.name, team=grant.team, agent=actor.name)

    async def served(self) -> Served:
        """Return the configured models and access (cached)."""
        found = self.catalog.cached()
        return found if found is not None else await anyio.to_thread.run_sync(self.catalog.served)

    async def models(self, caller: Caller) -> list[dict[str, Any]]:
        """Return the models this caller may use, in the OpenAI list shape."""
        served = await self.served()
        access = served.access.get(caller.team)
        if access is None:
            return []
        return [
            {"id": name, "object": "model", "created": 0, "owned_by": route.provider.name}
            for name, route in sorted(served.models.items())
            if self._allowed(caller, access, name)
        ]

    @staticmethod
    def _allowed(caller: Caller, access: Access, model: str) -> bool:
        if not access.allows(model):
            return False
        key = caller.key
        return key is None or not key.models or any(fnmatchcase(model, p) for p in key.models)

    # -- checks ------------------------------------------------------------------------

    def _refuse(
        self, caller: Caller, endpoint: str, model: str, error: LlmError, outcome: str
    ) -> LlmError:
        self.counters[outcome] += 1
        self.writer.submit(
            Inference(
                request_id=self.ids.new("llmreq"),
                at=self.clock.now(),
                actor=caller.actor,
                team=caller.team,
                agent=caller.agent,
                key_id=caller.key.id if caller.key else "",
                endpoint=endpoint,
                model=model,
                outcome=outcome,
                status=error.status,
                reason=error.message,
            )
        )
        return error

    async def _route(
        self, caller: Caller, endpoint: str, model: str, kind: str
    ) -> tuple[ModelRoute, Access]:
        served = await self.served()
        access = served.access.get(caller.team)
        if access is None or not self._allowed(caller, access, model):
            why = (
                f"team {caller.team} has no LLM access"
                if access is None
                else f"model {model!r} is not allowed for team {caller.team}"
                + (" with this key" if access.allows(model) else "")
            )
            error = LlmError(403, why, type="permission_error", code="model_not_allowed")
            raise self._refuse(caller, endpoint, model, error, "refused")
        route = served.models.get(model)
        if route is None or route.kind != kind:
            error = LlmError(
                404,
                f"model {model!r} is not served for {endpoint} by any enabled provider",
                type="invalid_request_error",
                code="model_not_found",
            )
            raise self._refuse(caller, endpoint, model, error, "refused")
        return route, access

    def _screen_prompt(
        self, caller: Caller, request: ChatRequest, access: Access
    ) -> dict[str, Any]:
        verdicts: dict[str, Any] = {}
        if not self.screening.enabled:
            return verdicts
        messages = request.body["messages"]
        for index, role, text in message_texts(messages):
            if role == "assistant" or not text:
                continue
            kind = "tool" if role in ("tool", "function") else "prompt"
            scan = self.screening.scan(text, kind=kind)
            if scan.action == "allow":
                continue
            verdict = {"message": index, "action": scan.action, "found": scan.categories}
            verdicts.setdefault(kind, []).append(verdict)
            if scan.action == "block":
                error = bad_request(
                    f"the {kind} in messages[{index}] was blocked by the screens "
                    f"({', '.join(sorted(set(scan.categories))) or 'policy'})",
                    "content_blocked",
                )
                self._blocked(caller, request.model, error, verdicts)
                raise error
            if access.redact_prompts and isinstance(messages[index].get("content"), str):
                messages[index] = {**messages[index], "content": scan.redacted}
                verdict["redacted"] = len(scan.categories) or 1
        return verdicts

    def _blocked(
        self, caller: Caller, model: str, error: LlmError, verdicts: dict[str, Any]
    ) -> None:
        self.counters["blocked"] += 1
        self.writer.submit(
            Inference(
                request_id=self.ids.new("llmreq"),
                at=self.clock.now(),
                actor=caller.actor,
                team=caller.team,
                agent=caller.agent,
                key_id=caller.key.id if caller.key else "",
                endpoint="chat",
                model=model,
                outcome="blocked",
                status=error.status,
                screens=verdicts,
                reason=error.message,
            )
        )

    def _limits(self, caller: Caller, access: Access) -> list[Limit]:
        now = self.clock.now()
        limits = []
        if access.budget is not None:
            limits.append(
                Limit(f"team:{caller.team}", period_of(access.period, now), access.budget)
            )
        key = caller.key
        if key is not None and key.budget is not None:
            limits.append(Limit(f"key:{key.id}", period_of(key.period, now), key.budget))
        return limits

    async def _hold(
        self, caller: Caller, endpoint: str, model: str, access: Access, amount: Decimal
    ) -> Hold:
        limits = self._limits(caller, access)
        if not limits:
            return Hold(amount, ())
        if not self.accountant.ready(limits):
            await anyio.to_thread.run_sync(self.accountant.prepare, limits)
        try:
            return self.accountant.reserve(limits, amount)
        except BudgetExceeded as exc:
            error = LlmError(429, str(exc), type="insufficient_quota", code="insufficient_quota")
            raise self._refuse(caller, endpoint, model, error, "budget") from None

    # -- requests ----------------------------------------------------------------------

    async def prepare_chat(self, caller: Caller, request: ChatRequest, size: int) -> Prepared:
        """Check a chat request and hold its maximum cost; raise LlmError when refused."""
        started = self._perf()
        route, access = await self._route(caller, "chat", request.model, "chat")
        if size > access.max_request_bytes:
            raise bad_request(
                f"the request is larger than {access.max_request_bytes} bytes", "request_too_large"
            )
        verdicts = self._screen_prompt(caller, request, access)
        out = (request.max_tokens or route.max_output_tokens) * request.choices
        amount = route.cost(request.input_bound, out)
        hold = await self._hold(caller, "chat", request.model, access, amount)
        body = dict(request.body)
        body["model"] = route.upstream_name
        if request.stream:
            body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        content = {"messages": request.body["messages"]} if access.log_content else None
        return Prepared(
            caller,
            "chat",
            route,
            access,
            body,
            hold,
            started,
            self.ids.new("llmreq"),
            request.input_bound,
            dict(verdicts),
            content,
        )

    async def prepare_embeddings(
        self, caller: Caller, request: EmbeddingsRequest, size: int
    ) -> Prepared:
        """Check an embeddings request and hold its cost; raise LlmError when refused."""
        started = self._perf()
        route, access = await self._route(caller, "embeddings", request.model, "embedding")
        if size > access.max_request_bytes:
            raise bad_request(
                f"the request is larger than {access.max_request_bytes} bytes", "request_too_large"
            )
        hold = await self._hold(
            caller, "embeddings", request.model, access, route.cost(request.input_bound, 0)
        )
        body = {**request.body, "model": route.upstream_name}
        return Prepared(
            caller,
            "embeddings",
            route,
            access,
            body,
            hold,
            started,
            self.ids.new("llmreq"),
            request.input_bound,
        )

    def finish(
        self,
        prepared: Prepared,
        *,
        outcome: str,
        status: int,
        tokens_in: int = 0,
        tokens_out: int = 0,
        redactions: int = 0,
        reason: str = "",
        response: Any = None,
    ) -> Decimal:
        """Settle the hold to the actual usage and record the request (once); return its cost."""
        if prepared.finished:
            return Decimal(0)
        prepared.finished = True
        route = prepared.route
        cost = route.cost(tokens_in, tokens_out)
        self.accountant.settle(prepared.hold, cost)
        redactions += prompt_redactions(prepared.screens)
        self.counters[outcome] += 1
        self.counters["redactions"] += redactions
        content = prepared.content
        if content is not None and response is not None:
            content = {**content, "response": response}
        self.writer.submit(
            Inference(
                request_id=prepared.request_id,
                at=self.clock.now(),
                actor=prepared.caller.actor,
                team=prepared.caller.team,
                agent=prepared.caller.agent,
                key_id=prepared.caller.key.id if prepared.caller.key else "",
                endpoint=prepared.endpoint,
                model=route.name,
                provider=route.provider.name,
                outcome=outcome,
                status=status,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                cost=cost,
                currency=route.provider.currency,
                input_price=route.input_price,
                output_price=route.output_price,
                redactions=redactions,
                screens=prepared.screens,
                latency_ms=(self._perf() - prepared.started) * 1000,
                reason=reason,
                scopes=prepared.hold.keys,
                content=content,
            )
        )
        return cost


def prompt_redactions(screens: Mapping[str, Any]) -> int:
    """Return how many findings were redacted out of the prompt and tool messages."""
    return sum(
        int(verdict.get("redacted") or 0)
        for kind in ("prompt", "tool")
        for verdict in screens.get(kind) or ()
    )
