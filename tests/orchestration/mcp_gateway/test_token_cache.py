"""The verified-token cache: hits until expiry, re-checks, and any identity change."""

from __future__ import annotations

from sqlalchemy import text

from plinth.capabilities.agents import service as agents
from plinth.capabilities.identity.schemas import Actor
from plinth.core.errors import Unauthenticated
from plinth.orchestration.mcp_gateway.token_cache import TokenCache
from tests.orchestration.conftest import World
from tests.orchestration.mcp_gateway.support import agent_token, register_agent


class Ticker:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _check(world: World, cache: TokenCache, token: str) -> Actor:
    """What McpAuth does: the cache, else a full check remembered at its generation."""
    found = cache.get(token)
    if found is not None:
        return found
    at = cache.generation()
    actor = world.platform.authenticate(token, audience="plinth-gateway")
    cache.put(token, actor, checked_at_generation=at)
    return actor


def test_cached_until_recheck_expiry_or_an_identity_change(world: World) -> None:
    register_agent(world.platform, "cachey", tools=["time/*"])
    token = agent_token(world.platform, "cachey")
    ticker = Ticker()
    cache = TokenCache(clock=world.clock, recheck_s=1.0, monotonic=ticker)
    assert cache.get(token) is None
    actor = _check(world, cache, token)
    assert cache.get(token) == actor
    ticker.now += 1.0  # the re-check interval passed
    assert cache.get(token) is None
    _check(world, cache, token)
    world.clock.advance(3 * 86400)  # past the token's expiry
    assert cache.get(token) is None
    assert cache.get("not-a-token") is None


def test_revocation_and_other_identity_changes_drop_entries(world: World) -> None:
    register_agent(world.platform, "revoked", tools=["time/*"])
    token = agent_token(world.platform, "revoked")
    cache = TokenCache(clock=world.clock, recheck_s=3600)
    _check(world, cache, token)
    other = agent_token(world.platform, "revoked")  # a new token row: a change
    assert cache.get(token) is None
    _check(world, cache, token)
    with world.platform.db.transaction() as session:
        agents.revoke(session, agent="revoked", jti=None, actor="test", clock=world.clock)
    assert cache.get(token) is None
    for each in (token, other):
        try:
            _check(world, cache, each)
        except Unauthenticated as exc:
            assert "revoked" in exc.detail
        else:
            raise AssertionError("a revoked token passed")


def test_raw_sql_writes_and_rollbacks(world: World) -> None:
    register_agent(world.platform, "rawsql", tools=["time/*"])
    token = agent_token(world.platform, "rawsql")
    cache = TokenCache(clock=world.clock, recheck_s=3600)
    _check(world, cache, token)
    try:
        with world.platform.db.transaction() as session:
            session.execute(text("UPDATE agents SET purpose = purpose WHERE name = 'rawsql'"))
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert cache.get(token) is not None  # nothing was committed
    with world.platform.db.transaction() as session:
        session.execute(text("UPDATE agents SET purpose = purpose WHERE name = 'rawsql'"))
    assert cache.get(token) is None


def test_not_cached_when_identity_changed_during_the_check(world: World) -> None:
    register_agent(world.platform, "racy", tools=["time/*"])
    token = agent_token(world.platform, "racy")
    cache = TokenCache(clock=world.clock)
    at = cache.generation()
    actor = world.platform.authenticate(token, audience="plinth-gateway")
    agent_token(world.platform, "racy")  # committed while "checking"
    cache.put(token, actor, checked_at_generation=at)
    assert cache.get(token) is None
