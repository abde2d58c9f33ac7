"""The gateway's pipeline in process against the local upstream process: failures and records."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from plinth.capabilities.audit.models import AuditRecord
from plinth.capabilities.identity.schemas import Actor, Grant
from plinth.capabilities.inventory import service as inventory
from plinth.core.config import Settings
from plinth.orchestration.llm_gateway import (
    ChatStream,
    LlmError,
    LlmGateway,
    complete,
    parse_chat,
)
from plinth.orchestration.llm_gateway.models import LlmRequest
from plinth.orchestration.platform import Platform
from tests.support_llm import LlmUpstream, start_llm_upstream

PAT = Actor(
    id="u",
    name="pat",
    kind="user",
    persona="platform-engineer",
    grants=(Grant("platform-engineer"),),
)


@pytest.fixture(scope="module")
def upstream() -> Iterator[LlmUpstream]:
    with start_llm_upstream() as running:
        yield running


@pytest.fixture
def platform(settings: Settings, upstream: LlmUpstream) -> Iterator[Platform]:
    plat = Platform(settings.model_copy(update={"seed_demo": True}))
    plat.prepare()
    provider: dict[str, Any] = {
        "apiVersion": "plinth.dev/v1",
        "kind": "LlmProvider",
        "metadata": {"name": "local"},
        "spec": {
            "baseUrl": upstream.url,
            "models": [
                {
                    "name": "ok",
                    "upstreamName": "gpt-4o-mini",
                    "inputPerMillion": 1,
                    "outputPerMillion": 2,
                },
                {
                    "name": "broken",
                    "upstreamName": "fail-500",
                    "inputPerMillion": 1,
                    "outputPerMillion": 2,
                },
                {
                    "name": "cut",
                    "upstreamName": "fail-stream",
                    "inputPerMillion": 1,
                    "outputPerMillion": 2,
                },
            ],
        },
    }
    access: dict[str, Any] = {
        "apiVersion": "plinth.dev/v1",
        "kind": "LlmAccess",
        "metadata": {"name": "payments"},
        "spec": {"team": "payments", "models": ["*"], "logContent": True, "budget": {"amount": 10}},
    }
    with plat.db.transaction() as session:
        for body in (provider, access):
            inventory.put_document(
                session,
                kind=body["kind"],
                name=body["metadata"]["name"],
                body=body,
                actor="test",
                plan_digest="",
                ids=plat.ids,
                clock=plat.clock,
            )
    plat.llm.invalidate()
    yield plat
    plat.stop()


def chat(model: str, **extra: Any) -> bytes:
    return json.dumps(
        {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}
    ).encode()


async def run(gateway: LlmGateway, token: str, raw: bytes) -> tuple[str, Any]:
    async with gateway.running():
        caller = await gateway.caller(token)
        request = parse_chat(raw)
        try:
            prepared = await gateway.prepare_chat(caller, request, len(raw))
            if not request.stream:
                return "ok", json.loads(await complete(gateway, prepared))
            stream = ChatStream(gateway, prepared, client_usage=request.include_usage)
            try:
                await stream.open()
                return "ok", [event async for event in stream.chunks()]
            finally:
                await stream.close()
        except LlmError as exc:
            return "error", exc


def records(platform: Platform) -> list[tuple[str, str, int, Decimal]]:
    with platform.db.read() as session:
        rows = session.scalars(select(LlmRequest).order_by(LlmRequest.id))
        return [(r.model, r.outcome, r.tokens_out, r.cost) for r in rows]


def test_model_names_are_mapped_and_content_logged(platform: Platform) -> None:
    token = platform.llm.create_key(PAT, name="t", team="payments")["key"]
    kind, answer = asyncio.run(run(platform.llm.gateway, token, chat("ok", max_tokens=2)))
    assert kind == "ok" and answer["model"] == "ok"  # the client's name, not the upstream's
    assert records(platform) == [("ok", "ok", 2, Decimal("0.000007"))]
    with platform.db.read() as session:
        data = session.scalars(
            select(AuditRecord.data).where(AuditRecord.action == "llm.inference")
        ).one()
    assert data["content"]["messages"][0]["content"] == "hi"  # logContent: true


def test_an_upstream_500_is_a_502_settled_at_zero(platform: Platform) -> None:
    token = platform.llm.create_key(PAT, name="t", team="payments")["key"]
    kind, error = asyncio.run(run(platform.llm.gateway, token, chat("broken")))
    assert kind == "error" and error.status == 502 and error.code == "upstream_unavailable"
    assert records(platform) == [("broken", "error", 0, Decimal(0))]
    assert Decimal(platform.llm.gateway.accountant.snapshot()[0]["held"]) == 0


def test_an_upstream_that_breaks_off_mid_stream_is_metered_once_as_cut(platform: Platform) -> None:
    token = platform.llm.create_key(PAT, name="t", team="payments")["key"]
    kind, events = asyncio.run(
        run(platform.llm.gateway, token, chat("cut", stream=True, max_tokens=10))
    )
    assert kind == "ok"
    assert b"stream_cut" in events[-1] and b"[DONE]" not in b"".join(events)
    assert b"plinth keeps every" in events[-2]  # what the screens held back still goes out
    ((model, outcome, tokens_out, cost),) = records(platform)
    assert (
        (model, outcome) == ("cut", "cut") and tokens_out == 5 and cost > 0
    )  # 19 characters received


def test_a_logged_stream_keeps_the_text_it_sent(platform: Platform) -> None:
    token = platform.llm.create_key(PAT, name="t", team="payments")["key"]
    raw = chat("ok", stream=True, max_tokens=3, stream_options={"include_usage": True})
    kind, events = asyncio.run(run(platform.llm.gateway, token, raw))
    assert kind == "ok" and events[-1] == b"data: [DONE]\n\n"
    assert b'"usage"' in events[-2]
    with platform.db.read() as session:
        data = session.scalars(
            select(AuditRecord.data).where(AuditRecord.action == "llm.inference")
        ).one()
    assert data["content"]["response"] == [{"index": 0, "content": "plinth keeps every"}]
    assert data["usage"] == {"input": 3, "output": 3} and data["outcome"] == "ok"
