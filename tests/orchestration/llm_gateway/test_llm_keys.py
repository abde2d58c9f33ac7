"""Virtual keys: who creates them, hashed storage, revocation, the demo documents."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from plinth.capabilities.catalog.kinds import schema_issues
from plinth.capabilities.identity.schemas import Actor, Grant
from plinth.core.clock import FrozenClock
from plinth.core.errors import Forbidden, InvalidInput, NotFound
from plinth.core.ids import SequentialIds
from plinth.infrastructure.store.db import Database
from plinth.orchestration.llm_gateway.config import parse_access, parse_provider
from plinth.orchestration.llm_gateway.keys import KeyStore
from plinth.orchestration.llm_gateway.models import LlmKey
from plinth.orchestration.seed_llm import demo_llm_documents

ADA = Actor(
    id="u1",
    name="ada",
    kind="user",
    persona="app-developer",
    grants=(Grant("developer", "payments"),),
)
DANA = Actor(
    id="u2",
    name="dana",
    kind="user",
    persona="ml-engineer",
    grants=(Grant("ml-engineer", "ml-research"),),
)
PAT = Actor(
    id="u3",
    name="pat",
    kind="user",
    persona="platform-engineer",
    grants=(Grant("platform-engineer"),),
)
BOT = Actor(
    id="a1", name="bot", kind="agent", persona="agent", grants=(Grant("developer", "payments"),)
)


def test_keys_are_stored_hashed_and_revocable(
    database: Database, clock: FrozenClock, ids: SequentialIds
) -> None:
    keys = KeyStore(database, ids=ids, clock=clock, recheck_s=60)
    created = keys.create(
        ADA, name="ci", team="payments", models=["gpt-4o-mini"], budget=Decimal("5"), period="day"
    )
    token = created["key"]
    assert token.startswith("plk-") and created["prefix"] == token[:8]
    with database.read() as session:
        stored = session.scalar(select(LlmKey))
        assert stored is not None
        kept = (stored.digest, stored.prefix, stored.name)
    assert token not in kept
    info = keys.resolve(token)
    assert info is not None and info.team == "payments" and info.budget == Decimal("5")
    assert keys.resolve("plk-unknown") is None
    assert [k["id"] for k in keys.list(ADA)] == [created["id"]]
    assert keys.list(DANA) == []
    with pytest.raises(NotFound):
        keys.revoke(DANA, created["id"])
    keys.revoke(PAT, created["id"])
    assert keys.resolve(token) is None  # at once, despite the 60 s cache


def test_who_may_create_keys(database: Database, clock: FrozenClock, ids: SequentialIds) -> None:
    keys = KeyStore(database, ids=ids, clock=clock)
    with pytest.raises(Forbidden):
        keys.create(DANA, name="x", team="payments")
    with pytest.raises(Forbidden):
        keys.create(BOT, name="x", team="payments")
    with pytest.raises(InvalidInput):
        keys.create(ADA, name="x", team="payments", agent="no-such-agent")
    with pytest.raises(InvalidInput):
        keys.create(ADA, name="bad name!", team="payments")
    assert keys.create(PAT, name="x", team="ml-research")["team"] == "ml-research"


def test_the_demo_documents_are_valid_and_priced() -> None:
    provider, payments, research = demo_llm_documents("http://127.0.0.1:1/v1")
    for document in (provider, payments, research):
        assert schema_issues(document["kind"], document) == []
    routes = {r.name: r for r in parse_provider("p", provider["spec"])}
    assert routes["gpt-4o-mini"].cost(1_000_000, 1_000_000) == Decimal("0.75")
    assert routes["text-embedding-3-small"].kind == "embedding"
    assert parse_access(payments["spec"]).allows("gpt-4o-mini")
    assert not parse_access(payments["spec"]).allows("gpt-4o")
    assert (
        parse_access(research["spec"]).allows("gpt-4o")
        and parse_access(research["spec"]).redact_prompts
    )
    assert demo_llm_documents("")[0]["spec"]["enabled"] is False
